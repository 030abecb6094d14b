//! Controller sources against the embedded API server: what queues a reconcile (the initial
//! list, bursts, owned objects through a metadata-only watch, mappers, dynamic objects) and
//! what predicates keep from queueing one.
//!
//! Assertions that something did *not* happen use a barrier instead of a sleep: with one
//! worker the queue is FIFO, and one informer delivers events in order, so once an object
//! changed after the event in question has been reconciled, any reconcile that event queued
//! has run too.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{GroupVersionKind, ObjectMeta, PostParams};
use kubesmith_runtime::cache::CacheResource;
use kubesmith_runtime::predicate::{self, GenerationChanged};
use kubesmith_runtime::prelude::*;
use serde_json::json;
use support::{Running, Widget, WidgetSpec, eventually, manager};
use tokio::sync::Notify;

/// Counts reconciles per object name; can hold the first reconcile of one object until
/// released, and can panic on every reconcile of another.
#[derive(Default)]
struct Counting {
    counts: Mutex<HashMap<String, usize>>,
    /// The resourceVersion each object had when it was last reconciled.
    last_rv: Mutex<HashMap<String, String>>,
    hold: Option<String>,
    entered: Notify,
    release: Notify,
    panic_on: Option<String>,
}

impl Counting {
    fn count(&self, name: &str) -> usize {
        self.counts.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    fn last_rv(&self, name: &str) -> Option<String> {
        self.last_rv.lock().unwrap().get(name).cloned()
    }

    async fn wait_count(&self, name: &str, at_least: usize) {
        eventually(&format!("{name} reconciled {at_least} times"), || async {
            (self.count(name) >= at_least).then_some(())
        })
        .await;
    }
}

/// Shares one [`Counting`] between the test and the controller.
struct Counter(Arc<Counting>);

impl<K: CacheResource> Reconciler<K> for Counter {
    async fn reconcile(&self, ctx: Context<K>) -> Result<Action, ReconcileError> {
        let name = ctx.request().name.clone();
        let n = {
            let mut counts = self.0.counts.lock().unwrap();
            let n = counts.entry(name.clone()).or_default();
            *n += 1;
            *n
        };
        if let Some(rv) = ctx.get().and_then(|o| o.meta().resource_version.clone()) {
            self.0.last_rv.lock().unwrap().insert(name.clone(), rv);
        }
        if self.0.hold.as_deref() == Some(name.as_str()) && n == 1 {
            self.0.entered.notify_one();
            self.0.release.notified().await;
        }
        if self.0.panic_on.as_deref() == Some(name.as_str()) {
            panic!("reconcile of {name} blew up");
        }
        Ok(Action::await_change())
    }
}

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

fn widget(name: &str, size: i32) -> Widget {
    let mut w = Widget::new(name, WidgetSpec { size });
    w.metadata.namespace = Some("default".into());
    w
}

#[tokio::test]
async fn thousand_objects_each_reconciled_once_after_sync() {
    let env = support::env().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let names: Vec<String> = (0..1000).map(|i| format!("cm-{i:04}")).collect();
    futures::stream::iter(names.iter())
        .map(|name| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &configmap(name)).await }
        })
        .buffer_unordered(16)
        .for_each(|created| async move {
            created.unwrap();
        })
        .await;

    let mgr = manager(&env, Options::default());
    let counting = Arc::new(Counting::default());
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(Counter(counting.clone()))
        .unwrap();
    let running = Running::start(&mgr);
    eventually("every object reconciled", || async {
        names
            .iter()
            .all(|name| counting.count(name) >= 1)
            .then_some(())
    })
    .await;
    api.create(&PostParams::default(), &configmap("barrier"))
        .await
        .unwrap();
    counting.wait_count("barrier", 1).await;
    let twice: Vec<&String> = names
        .iter()
        .filter(|name| counting.count(name) != 1)
        .collect();
    assert!(twice.is_empty(), "reconciled more than once: {twice:?}");
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn update_burst_on_one_object_is_deduplicated() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let counting = Arc::new(Counting {
        hold: Some("hot".into()),
        ..Counting::default()
    });
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(Counter(counting.clone()))
        .unwrap();
    let running = Running::start(&mgr);
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &configmap("hot"))
        .await
        .unwrap();
    counting.entered.notified().await;

    // twenty updates while the first reconcile runs
    let mut last = None;
    for i in 0..20 {
        let patched = api
            .patch(
                "hot",
                &PatchParams::default(),
                &Patch::Merge(json!({ "data": { "n": i.to_string() } })),
            )
            .await
            .unwrap();
        last = patched.metadata.resource_version;
    }
    let last = last.unwrap();
    let store = mgr.cache().store::<ConfigMap>();
    eventually("the cache to see the last update", || async {
        let cm = store.get(&ObjectKey::namespaced("default", "hot"))?;
        (cm.metadata.resource_version.as_deref() == Some(last.as_str())).then_some(())
    })
    .await;
    counting.release.notify_one();

    // all twenty collapse into one more reconcile, of the latest state
    counting.wait_count("hot", 2).await;
    assert_eq!(counting.last_rv("hot").as_deref(), Some(last.as_str()));
    api.create(&PostParams::default(), &configmap("barrier"))
        .await
        .unwrap();
    counting.wait_count("barrier", 1).await;
    assert_eq!(counting.count("hot"), 2);
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn mapper_fans_one_change_out_to_every_mapped_object() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    // config maps name the secret they use in data.secret; an index finds them by it
    mgr.cache()
        .index_field::<ConfigMap>("data.secret", |cm| {
            cm.data
                .iter()
                .filter_map(|d| d.get("secret").cloned())
                .collect()
        })
        .unwrap();
    let users = mgr.cache().store::<ConfigMap>();
    let counting = Arc::new(Counting::default());
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .watches::<Secret>(move |secret| {
            users
                .by_index("data.secret", &secret.name_any())
                .unwrap_or_default()
                .iter()
                .filter_map(|cm| Request::from_object(cm.as_ref()))
                .collect()
        })
        .complete(Counter(counting.clone()))
        .unwrap();
    let running = Running::start(&mgr);

    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let users: Vec<String> = (0..5).map(|i| format!("user-{i}")).collect();
    for name in users.iter().chain([&"bystander".to_owned()]) {
        let mut cm = configmap(name);
        let secret = if name == "bystander" {
            "other"
        } else {
            "shared"
        };
        cm.data = Some(BTreeMap::from([("secret".to_owned(), secret.to_owned())]));
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    for name in &users {
        counting.wait_count(name, 1).await;
    }
    counting.wait_count("bystander", 1).await;

    let secrets: Api<Secret> = Api::namespaced(env.client(), "default");
    let mut secret = Secret::default();
    secret.metadata.name = Some("shared".into());
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    for name in &users {
        counting.wait_count(name, 2).await;
    }
    api.create(&PostParams::default(), &configmap("barrier"))
        .await
        .unwrap();
    counting.wait_count("barrier", 1).await;
    assert_eq!(counting.count("bystander"), 1);
    for name in &users {
        assert_eq!(counting.count(name), 2, "{name}");
    }
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn predicates_filter_their_source_and_event_filters_every_source() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let counting = Arc::new(Counting::default());
    Controller::managed_by(&mgr)
        .for_with::<Widget>(GenerationChanged)
        .owns_with::<ConfigMap>(predicate::filter(|cm: &ConfigMap| {
            cm.labels().contains_key("watched")
        }))
        // a secret of type kubesmith/trigger reconciles the widget of the same name
        .watches_with::<Secret>(
            |secret| Request::from_object(secret).into_iter().collect(),
            predicate::filter(|secret: &Secret| {
                secret.type_.as_deref() == Some("kubesmith/trigger")
            }),
        )
        .with_event_filter(predicate::metadata_filter(|meta| {
            !meta
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("ignore"))
        }))
        .complete(Counter(counting.clone()))
        .unwrap();
    let running = Running::start(&mgr);
    let widgets: Api<Widget> = Api::namespaced(env.client(), "default");
    let w = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let barrier = widgets
        .create(&PostParams::default(), &widget("barrier", 1))
        .await
        .unwrap();
    counting.wait_count("w", 1).await;
    counting.wait_count("barrier", 1).await;

    // a status write keeps the generation: filtered out
    widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "conditions": [] } })),
        )
        .await
        .unwrap();
    let spec = |size: i32| Patch::Merge(json!({ "spec": { "size": size } }));
    widgets
        .patch("barrier", &PatchParams::default(), &spec(2))
        .await
        .unwrap();
    counting.wait_count("barrier", 2).await;
    assert_eq!(counting.count("w"), 1, "a status write reconciled");

    // a spec change passes
    widgets
        .patch("w", &PatchParams::default(), &spec(2))
        .await
        .unwrap();
    counting.wait_count("w", 2).await;

    // owned config maps count only with the label
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let owned = |name: &str, owner: &Widget, watched: bool| {
        let mut cm = configmap(name);
        cm.metadata.owner_references = owner.controller_owner_ref(&()).map(|r| vec![r]);
        if watched {
            cm.metadata.labels = Some(BTreeMap::from([("watched".to_owned(), "yes".to_owned())]));
        }
        cm
    };
    configmaps
        .create(&PostParams::default(), &owned("unlabelled", &w, false))
        .await
        .unwrap();
    configmaps
        .create(&PostParams::default(), &owned("barrier-cm", &barrier, true))
        .await
        .unwrap();
    counting.wait_count("barrier", 3).await;
    assert_eq!(counting.count("w"), 2, "an unlabelled child reconciled");
    configmaps
        .create(&PostParams::default(), &owned("labelled", &w, true))
        .await
        .unwrap();
    counting.wait_count("w", 3).await;

    // the event filter applies to the reconciled type too
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": { "annotations": { "ignore": "yes" } },
                "spec": { "size": 3 }
            })),
        )
        .await
        .unwrap();
    widgets
        .patch("barrier", &PatchParams::default(), &spec(3))
        .await
        .unwrap();
    counting.wait_count("barrier", 4).await;
    assert_eq!(counting.count("w"), 3, "an ignored widget reconciled");

    // watched secrets count only with the trigger type
    let secrets: Api<Secret> = Api::namespaced(env.client(), "default");
    let secret = |name: &str, trigger: bool| {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.type_ = trigger.then(|| "kubesmith/trigger".to_owned());
        s
    };
    secrets
        .create(&PostParams::default(), &secret("w", false))
        .await
        .unwrap();
    secrets
        .create(&PostParams::default(), &secret("barrier", true))
        .await
        .unwrap();
    counting.wait_count("barrier", 5).await;
    assert_eq!(counting.count("w"), 3, "an untyped secret reconciled");
    secrets
        .create(&PostParams::default(), &secret("w-again", true))
        .await
        .unwrap();
    counting.wait_count("w-again", 1).await;
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn metadata_only_owned_objects_reconcile_their_owner() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let counting = Arc::new(Counting::default());
    Controller::managed_by(&mgr)
        .for_::<Widget>()
        .owns_metadata::<ConfigMap>()
        .complete(Counter(counting.clone()))
        .unwrap();
    let running = Running::start(&mgr);
    let widgets: Api<Widget> = Api::namespaced(env.client(), "default");
    let w = widgets
        .create(&PostParams::default(), &widget("parent", 1))
        .await
        .unwrap();
    counting.wait_count("parent", 1).await;

    let configmaps: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let mut child = configmap("child");
    child.metadata.owner_references = w.controller_owner_ref(&()).map(|r| vec![r]);
    configmaps
        .create(&PostParams::default(), &child)
        .await
        .unwrap();
    counting.wait_count("parent", 2).await;
    configmaps
        .patch(
            "child",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "changed": "yes" } } })),
        )
        .await
        .unwrap();
    counting.wait_count("parent", 3).await;

    // the children are cached as metadata only: no watch of whole config maps
    let metas = mgr.cache().metadata_store::<ConfigMap>();
    let uid = w.uid().unwrap();
    assert_eq!(metas.owned_by(&uid).len(), 1);
    assert_eq!(mgr.cache().informer_count(), 2);
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn dynamic_objects_map_to_requests() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let counting = Arc::new(Counting::default());
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .watches_dynamic(
            GroupVersionKind::gvk("test.kubesmith.io", "v1", "Widget"),
            |w| vec![Request::new(w.namespace(), w.name_any())],
        )
        .complete(Counter(counting.clone()))
        .unwrap();
    let running = Running::start(&mgr);
    let configmaps: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    configmaps
        .create(&PostParams::default(), &configmap("same"))
        .await
        .unwrap();
    counting.wait_count("same", 1).await;
    let widgets: Api<Widget> = Api::namespaced(env.client(), "default");
    widgets
        .create(&PostParams::default(), &widget("same", 1))
        .await
        .unwrap();
    counting.wait_count("same", 2).await;
    running.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn a_reconciler_that_always_panics_keeps_the_process_alive() {
    let env = support::env().await;
    let mgr = manager(&env, Options::default());
    let counting = Arc::new(Counting {
        panic_on: Some("boom".into()),
        ..Counting::default()
    });
    Controller::managed_by(&mgr)
        .for_::<ConfigMap>()
        .complete(Counter(counting.clone()))
        .unwrap();
    let running = Running::start(&mgr);
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &configmap("boom"))
        .await
        .unwrap();
    // caught and retried with backoff, again and again
    counting.wait_count("boom", 3).await;
    api.create(&PostParams::default(), &configmap("fine"))
        .await
        .unwrap();
    counting.wait_count("fine", 1).await;
    assert!(!running.is_finished(), "the manager stopped after panics");
    running.stop().await.unwrap();
    env.stop().await;
}
