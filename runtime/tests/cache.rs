//! The shared cache against the embedded API server: indexes, metadata-only and dynamic
//! watches, and relists after the watch history expired.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ObjectMeta, Patch,
    PatchParams, PostParams,
};
use kube::discovery::Scope;
use kube::{CustomResourceExt, Resource, ResourceExt};
use kubesmith_envtest::{Environment, Fault};
use kubesmith_runtime::cache::{Cache, CacheError, Notification, ObjectKey};
use serde_json::json;
use support::{Widget, WidgetSpec, eventually};

fn configmap(namespace: &str, name: &str, target: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("target".to_owned(), target.to_owned())])),
        ..ConfigMap::default()
    }
}

fn names<K: Resource>(objs: &[Arc<K>]) -> Vec<String> {
    let mut names: Vec<String> = objs.iter().map(|o| o.name_any()).collect();
    names.sort();
    names
}

fn target_of(cm: &ConfigMap) -> Vec<String> {
    cm.data
        .iter()
        .filter_map(|d| d.get("target").cloned())
        .collect()
}

/// Every watch on config maps fails until [`reopen`] while the history is forgotten, so the
/// informer misses whatever happens meanwhile and must relist.
async fn cut_watches(env: &Environment) {
    let failed_before = env.injected_failures().len();
    env.inject(
        Fault::new(500)
            .verb("watch")
            .resource("configmaps")
            .times(usize::MAX),
    );
    env.drop_watches();
    // The informer's watch is down once a re-watch has failed.
    eventually("a re-watch to fail", || async {
        (env.injected_failures().len() > failed_before).then_some(())
    })
    .await;
}

/// Forgets the watch history and lets watches through again: the informer's re-watch gets
/// 410 Gone and it relists.
fn reopen(env: &Environment) {
    env.compact_history();
    env.fail_requests(0, 500);
}

#[tokio::test]
async fn indexes_follow_changes_and_relists_on_the_real_watch() {
    let env = support::env().await;
    let ns = env.create_namespace().await.unwrap();
    let other_ns = env.create_namespace().await.unwrap();
    let cache = Cache::new(env.client());
    cache
        .index_field::<ConfigMap>("data.target", target_of)
        .unwrap();
    assert!(matches!(
        cache.index_field::<ConfigMap>("data.target", target_of),
        Err(CacheError::DuplicateIndex { .. })
    ));
    let store = cache.store::<ConfigMap>();
    cache.start().unwrap();
    cache.wait_for_sync().await;

    let api: Api<ConfigMap> = Api::namespaced(env.client(), &ns);
    let owner = api
        .create(&PostParams::default(), &configmap(&ns, "owner", "none"))
        .await
        .unwrap();
    let mut a = configmap(&ns, "a", "x");
    a.metadata.owner_references = owner.controller_owner_ref(&()).map(|r| vec![r]);
    api.create(&PostParams::default(), &a).await.unwrap();
    api.create(&PostParams::default(), &configmap(&ns, "b", "x"))
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(env.client(), &other_ns)
        .create(&PostParams::default(), &configmap(&other_ns, "c", "y"))
        .await
        .unwrap();
    eventually("a, b and c indexed", || async {
        (names(&store.by_index("data.target", "x").unwrap()) == ["a", "b"]
            && names(&store.by_index("data.target", "y").unwrap()) == ["c"])
        .then_some(())
    })
    .await;
    assert_eq!(names(&store.list_namespace(&ns)), ["a", "b", "owner"]);
    assert_eq!(names(&store.list_namespace(&other_ns)), ["c"]);
    let owner_uid = owner.uid().unwrap();
    assert_eq!(names(&store.owned_by(&owner_uid)), ["a"]);

    // an update moves the object to another value, a delete removes it
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "target": "y" } })),
    )
    .await
    .unwrap();
    api.delete("b", &DeleteParams::default()).await.unwrap();
    eventually("a moved to y, b gone", || async {
        (store.by_index("data.target", "x").unwrap().is_empty()
            && names(&store.by_index("data.target", "y").unwrap()) == ["a", "c"])
        .then_some(())
    })
    .await;
    assert_eq!(names(&store.list_namespace(&ns)), ["a", "owner"]);

    // changes the informer never saw as events arrive through a relist
    cut_watches(&env).await;
    api.delete("a", &DeleteParams::default()).await.unwrap();
    api.create(&PostParams::default(), &configmap(&ns, "d", "x"))
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(env.client(), &other_ns)
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": { "target": "z" } })),
        )
        .await
        .unwrap();
    reopen(&env);
    eventually("the relist to replace the indexes", || async {
        (store.relists() >= 1
            && names(&store.by_index("data.target", "x").unwrap()) == ["d"]
            && names(&store.by_index("data.target", "z").unwrap()) == ["c"])
        .then_some(())
    })
    .await;
    assert!(store.by_index("data.target", "y").unwrap().is_empty());
    let mut values = store.index_values("data.target").unwrap();
    values.sort();
    assert_eq!(values, ["none", "x", "z"]);
    assert!(store.owned_by(&owner_uid).is_empty());
    assert_eq!(names(&store.list_namespace(&ns)), ["d", "owner"]);
    assert!(matches!(
        store.by_index("data.targte", "x"),
        Err(CacheError::UnknownIndex { .. })
    ));
    cache.stop().await;
    env.stop().await;
}

/// Records notifications as `kind:name`.
fn record<K: Resource>(seen: &Arc<Mutex<Vec<String>>>) -> impl Fn(&Notification<K>) + use<K> {
    let seen = Arc::clone(seen);
    move |n: &Notification<K>| {
        let what = match n {
            Notification::Added(_) => "add",
            Notification::Updated { .. } => "update",
            Notification::Deleted(_) => "delete",
        };
        seen.lock().unwrap().push(format!(
            "{what}:{}",
            n.object().meta().name.clone().unwrap_or_default()
        ));
    }
}

#[tokio::test]
async fn dropped_watches_and_a_forced_410_lose_no_change_and_no_delete() {
    let env = support::env().await;
    let ns = env.create_namespace().await.unwrap();
    let cache = Cache::with_namespace(env.client(), Some(ns.clone()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    cache.add_event_handler::<ConfigMap>(record(&seen));
    let store = cache.store::<ConfigMap>();
    cache.start().unwrap();
    cache.wait_for_sync().await;

    let api: Api<ConfigMap> = Api::namespaced(env.client(), &ns);
    for name in ["stays", "changes", "goes"] {
        api.create(&PostParams::default(), &configmap(&ns, name, "1"))
            .await
            .unwrap();
    }
    eventually("three cached", || async {
        (store.len() == 3).then_some(())
    })
    .await;

    // a dropped watch resumes from its resourceVersion: the change made right after is seen
    env.drop_watches();
    api.patch(
        "changes",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "target": "2" } })),
    )
    .await
    .unwrap();
    let key = |name: &str| ObjectKey::namespaced(ns.clone(), name);
    eventually("the change after the drop", || async {
        let cm = store.get(&key("changes"))?;
        (target_of(&cm) == ["2"]).then_some(())
    })
    .await;
    assert_eq!(
        store.relists(),
        0,
        "a dropped watch resumes without a relist"
    );

    // while the watch is down the history expires: the delete and the change arrive through
    // a relist, the delete as a delete notification with the last known state
    seen.lock().unwrap().clear();
    cut_watches(&env).await;
    api.delete("goes", &DeleteParams::default()).await.unwrap();
    api.patch(
        "changes",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "target": "3" } })),
    )
    .await
    .unwrap();
    reopen(&env);
    eventually("the relist", || async {
        let cm = store.get(&key("changes"))?;
        (store.relists() >= 1 && target_of(&cm) == ["3"] && store.len() == 2).then_some(())
    })
    .await;
    assert!(store.get(&key("goes")).is_none());
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&"delete:goes".to_owned()), "{seen:?}");
    assert!(seen.contains(&"update:changes".to_owned()), "{seen:?}");
    cache.stop().await;
    env.stop().await;
}

#[tokio::test]
async fn metadata_store_is_its_own_shared_watch() {
    let env = support::env().await;
    let ns = env.create_namespace().await.unwrap();
    let cache = Cache::with_namespace(env.client(), Some(ns.clone()));
    let metas = cache.metadata_store::<ConfigMap>();
    assert_eq!(cache.metadata_store::<ConfigMap>().len(), 0);
    assert_eq!(cache.informer_count(), 1, "asked twice, watched once");
    assert!(
        format!("{cache:?}").contains("v1/ConfigMap (metadata)"),
        "{cache:?}"
    );
    cache.start().unwrap();
    cache.wait_for_sync().await;

    let api: Api<ConfigMap> = Api::namespaced(env.client(), &ns);
    let mut cm = configmap(&ns, "labelled", "big data");
    cm.metadata.labels = Some(BTreeMap::from([("app".to_owned(), "web".to_owned())]));
    api.create(&PostParams::default(), &cm).await.unwrap();
    let meta = eventually("metadata cached", || async {
        metas.get(&ObjectKey::namespaced(ns.clone(), "labelled"))
    })
    .await;
    assert_eq!(meta.labels().get("app").map(String::as_str), Some("web"));
    assert!(meta.metadata.managed_fields.is_none());
    assert_eq!(names(&metas.list_namespace(&ns)), ["labelled"]);

    // the full objects are a separate watch
    let full = cache.store::<ConfigMap>();
    assert_eq!(cache.informer_count(), 2);
    full.wait_for_sync().await;
    assert_eq!(full.len(), 1);
    cache.stop().await;
    env.stop().await;
}

#[tokio::test]
async fn dynamic_store_resolves_its_kind_once_the_api_server_serves_it() {
    // no Widget CRD yet: discovery fails until it is installed
    support::init_tracing();
    let env = Environment::start().await.unwrap();
    let ns = env.create_namespace().await.unwrap();
    let cache = Cache::new(env.client());
    let gvk = GroupVersionKind::gvk("test.kubesmith.io", "v1", "Widget");
    let widgets = cache.dynamic_store(gvk.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    cache.add_dynamic_event_handler(gvk.clone(), record::<DynamicObject>(&seen));
    assert_eq!(cache.informer_count(), 1);
    cache.start().unwrap();
    assert!(!widgets.has_synced());

    env.install_crds([Widget::crd()]).await.unwrap();
    let api: Api<Widget> = Api::namespaced(env.client(), &ns);
    api.create(
        &PostParams::default(),
        &Widget::new("w1", WidgetSpec { size: 3 }),
    )
    .await
    .unwrap();
    let w1 = eventually("the widget as a dynamic object", || async {
        widgets.get(&ObjectKey::namespaced(ns.clone(), "w1"))
    })
    .await;
    assert_eq!(w1.data["spec"]["size"], 3);
    assert_eq!(
        w1.types.as_ref().map(|t| t.kind.as_str()),
        Some("Widget"),
        "{w1:?}"
    );
    eventually("the add notification", || async {
        seen.lock()
            .unwrap()
            .contains(&"add:w1".to_owned())
            .then_some(())
    })
    .await;
    cache.stop().await;
    env.stop().await;
}

#[tokio::test]
async fn resolved_dynamic_resource_honours_the_cache_namespace() {
    let env = support::env().await;
    let ns = env.create_namespace().await.unwrap();
    let elsewhere = env.create_namespace().await.unwrap();
    for namespace in [&ns, &elsewhere] {
        Api::<ConfigMap>::namespaced(env.client(), namespace)
            .create(&PostParams::default(), &configmap(namespace, "cm", "x"))
            .await
            .unwrap();
    }
    let cache = Cache::with_namespace(env.client(), Some(ns.clone()));
    let configmaps = cache.dynamic_store((ApiResource::erase::<ConfigMap>(&()), namespaced_caps()));
    cache.start().unwrap();
    configmaps.wait_for_sync().await;
    let listed = configmaps.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].namespace().as_deref(), Some(ns.as_str()));
    // a GVK and a resolved resource of the same kind share one informer
    let again = cache.dynamic_store(GroupVersionKind::gvk("", "v1", "ConfigMap"));
    assert_eq!(again.len(), 1);
    assert_eq!(cache.informer_count(), 1);
    cache.stop().await;
    env.stop().await;
}

fn namespaced_caps() -> kube::discovery::ApiCapabilities {
    kube::discovery::ApiCapabilities {
        scope: Scope::Namespaced,
        subresources: Vec::new(),
        operations: Vec::new(),
    }
}

#[tokio::test]
async fn a_watch_config_selector_restricts_the_shared_watch() {
    let env = support::env().await;
    let ns = env.create_namespace().await.unwrap();
    let cache = Cache::with_namespace(env.client(), Some(ns.clone()));
    cache
        .watch_config::<ConfigMap>(kube::runtime::watcher::Config::default().labels("app=web"))
        .unwrap();
    let store = cache.store::<ConfigMap>();
    assert!(matches!(
        cache.watch_config::<ConfigMap>(kube::runtime::watcher::Config::default()),
        Err(CacheError::AlreadyWatched { .. })
    ));
    cache.start().unwrap();
    cache.wait_for_sync().await;
    let api: Api<ConfigMap> = Api::namespaced(env.client(), &ns);
    for (name, app) in [("web-1", "web"), ("db-1", "db"), ("web-2", "web")] {
        let mut cm = configmap(&ns, name, "x");
        cm.metadata.labels = Some(BTreeMap::from([("app".to_owned(), app.to_owned())]));
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    eventually("the web config maps", || async {
        (names(&store.list()) == ["web-1", "web-2"]).then_some(())
    })
    .await;
    // relabelled out of the selection: gone from the cache, as a delete
    api.patch(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "app": "db" } } })),
    )
    .await
    .unwrap();
    eventually("web-1 to leave the selection", || async {
        (names(&store.list()) == ["web-2"]).then_some(())
    })
    .await;
    assert_eq!(cache.informer_count(), 1);
    cache.stop().await;
    env.stop().await;
}
