//! Watches: resume from a resourceVersion, 410 Expired, selector transitions, no events for
//! no-op writes, and kube's `watcher` (paged list + watch with bookmarks) end to end.

mod common;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kubesmith_envtest::Environment;
use serde_json::json;

fn cm(name: &str, app: &str) -> ConfigMap {
    serde_json::from_value(
        json!({ "metadata": { "name": name, "labels": { "app": app } }, "data": { "k": "v" } }),
    )
    .unwrap()
}

/// The next event of a watch that is not a bookmark, waiting generously.
async fn next_event<S>(stream: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin,
{
    loop {
        let ev = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .expect("a valid event");
        if !matches!(ev, WatchEvent::Bookmark(_)) {
            return ev;
        }
    }
}

async fn next_watcher_event<K, S>(events: &mut S) -> watcher::Event<K>
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Unpin,
{
    tokio::time::timeout(WAIT, events.try_next())
        .await
        .expect("an event in time")
        .expect("no watcher error")
        .expect("open")
}

fn name_of(ev: &WatchEvent<ConfigMap>) -> (&'static str, String) {
    match ev {
        WatchEvent::Added(o) => ("ADDED", o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => ("MODIFIED", o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => ("DELETED", o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(_) => ("BOOKMARK", String::new()),
        WatchEvent::Error(e) => panic!("unexpected error event {e:?}"),
    }
}

#[tokio::test]
async fn resume_from_resource_version_and_expire() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let first = api
        .create(&PostParams::default(), &cm("a", "x"))
        .await
        .unwrap();
    let start = first.metadata.resource_version.clone().unwrap();
    api.create(&PostParams::default(), &cm("b", "x"))
        .await
        .unwrap();
    api.delete("a", &Default::default()).await.unwrap();

    // From RV=start: exactly the changes after it, in order.
    let mut stream = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        name_of(&next_event(&mut stream).await),
        ("ADDED", "b".into())
    );
    let deleted = next_event(&mut stream).await;
    assert_eq!(name_of(&deleted), ("DELETED", "a".into()));
    if let WatchEvent::Deleted(o) = &deleted {
        let del_rv: u64 = o
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            del_rv > start.parse::<u64>().unwrap() + 1,
            "DELETED carries the delete's resourceVersion"
        );
    }

    // A no-op replace sends nothing: the next event is the real change after it.
    let b = api.get("b").await.unwrap();
    let same = api.replace("b", &PostParams::default(), &b).await.unwrap();
    assert_eq!(
        same.metadata.resource_version, b.metadata.resource_version,
        "no-op keeps the resourceVersion"
    );
    api.patch(
        "b",
        &Default::default(),
        &kube::api::Patch::Merge(json!({ "data": { "k": "changed" } })),
    )
    .await
    .unwrap();
    match next_event(&mut stream).await {
        WatchEvent::Modified(o) => assert_eq!(o.data.unwrap()["k"], "changed"),
        other => panic!("expected the real change, got {other:?}"),
    }

    // After compaction the old resourceVersion is gone: an in-stream 410 ERROR, then the end.
    env.compact_history();
    let mut expired = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(WAIT, expired.next()).await.unwrap() {
        Some(Ok(WatchEvent::Error(e))) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(WAIT, expired.next())
            .await
            .unwrap()
            .is_none(),
        "the stream closes after the error"
    );
    env.stop().await;
}

#[tokio::test]
async fn initial_events_selectors_and_timeout() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &cm("web-1", "web"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("db-1", "db"))
        .await
        .unwrap();

    // RV "0": synthetic ADDED for what matches now, then changes, with transitions.
    let wp = WatchParams::default().labels("app=web");
    let mut stream = api.watch(&wp, "0").await.unwrap().boxed();
    assert_eq!(
        name_of(&next_event(&mut stream).await),
        ("ADDED", "web-1".into())
    );
    let relabel =
        |app: &str| kube::api::Patch::Merge(json!({ "metadata": { "labels": { "app": app } } }));
    api.patch("db-1", &Default::default(), &relabel("web"))
        .await
        .unwrap();
    assert_eq!(
        name_of(&next_event(&mut stream).await),
        ("ADDED", "db-1".into()),
        "starts matching -> ADDED"
    );
    api.patch("web-1", &Default::default(), &relabel("other"))
        .await
        .unwrap();
    match next_event(&mut stream).await {
        WatchEvent::Deleted(o) => {
            assert_eq!(o.metadata.name.as_deref(), Some("web-1"));
            assert_eq!(
                o.metadata.labels.unwrap()["app"],
                "web",
                "stops matching -> DELETED with the old object"
            );
        }
        other => panic!("expected DELETED, got {other:?}"),
    }

    // timeoutSeconds ends the stream cleanly.
    let mut short = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap()
        .boxed();
    let mut seen = 0;
    while let Some(ev) = tokio::time::timeout(WAIT, short.next()).await.unwrap() {
        assert!(!matches!(ev.unwrap(), WatchEvent::Error(_)));
        seen += 1;
    }
    assert_eq!(seen, 2);
    env.stop().await;
}

#[tokio::test]
async fn kube_runtime_watcher_lists_watches_and_resumes() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &cm("existing", "x"))
        .await
        .unwrap();

    // A 1 s server-side timeout makes the watcher re-watch from its last resourceVersion repeatedly.
    let mut events = watcher(api.clone(), watcher::Config::default().timeout(1)).boxed();
    assert!(matches!(
        next_watcher_event(&mut events).await,
        watcher::Event::Init
    ));
    match next_watcher_event(&mut events).await {
        watcher::Event::InitApply(o) => assert_eq!(o.metadata.name.as_deref(), Some("existing")),
        other => panic!("expected InitApply, got {other:?}"),
    }
    assert!(matches!(
        next_watcher_event(&mut events).await,
        watcher::Event::InitDone
    ));

    api.create(&PostParams::default(), &cm("fresh", "x"))
        .await
        .unwrap();
    match next_watcher_event(&mut events).await {
        watcher::Event::Apply(o) => assert_eq!(o.metadata.name.as_deref(), Some("fresh")),
        other => panic!("expected Apply, got {other:?}"),
    }
    // Let at least one server-side timeout pass, and drop the current watch for good measure,
    // so the next event arrives on a resumed watch.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    env.drop_watches();
    api.patch(
        "existing",
        &Default::default(),
        &kube::api::Patch::Merge(json!({ "data": { "k": "2" } })),
    )
    .await
    .unwrap();
    loop {
        match next_watcher_event(&mut events).await {
            watcher::Event::Apply(o) if o.metadata.name.as_deref() == Some("existing") => {
                assert_eq!(o.data.unwrap()["k"], "2");
                break;
            }
            watcher::Event::Apply(_) => continue,
            other => panic!("expected the update, got {other:?}"),
        }
    }
    env.stop().await;
}

#[tokio::test]
async fn kube_runtime_watcher_streaming_list() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let api = crontabs(env.client(), "default");
    api.create(&PostParams::default(), &crontab("one", "x"))
        .await
        .unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    assert!(matches!(
        next_watcher_event(&mut events).await,
        watcher::Event::Init
    ));
    assert!(matches!(
        next_watcher_event(&mut events).await,
        watcher::Event::InitApply(_)
    ));
    assert!(
        matches!(
            next_watcher_event(&mut events).await,
            watcher::Event::InitDone
        ),
        "the initial-events-end bookmark ends the list"
    );
    api.delete("one", &Default::default()).await.unwrap();
    match next_watcher_event(&mut events).await {
        watcher::Event::Delete(o) => assert_eq!(o.metadata.name.as_deref(), Some("one")),
        other => panic!("expected Delete, got {other:?}"),
    }
    env.stop().await;
}

#[tokio::test]
async fn bookmarks_carry_the_latest_resource_version() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let created = api
        .create(&PostParams::default(), &cm("a", "x"))
        .await
        .unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    loop {
        let ev = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("a bookmark in time")
            .unwrap()
            .unwrap();
        if let WatchEvent::Bookmark(b) = ev {
            assert_eq!(b.types.kind, "ConfigMap");
            let at: u64 = b.metadata.resource_version.parse().unwrap();
            assert!(at >= rv.parse::<u64>().unwrap());
            break;
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_serialised_and_watched_in_order() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let created = api
        .create(&PostParams::default(), &cm("counter", "x"))
        .await
        .unwrap();
    let start = created.metadata.resource_version.clone().unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();

    // Four writers increment a counter with optimistic concurrency, retrying on 409.
    const WRITERS: usize = 4;
    const INCREMENTS: usize = 10;
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < INCREMENTS {
                let mut cur = api.get("counter").await.unwrap();
                let data = cur.data.get_or_insert_with(Default::default);
                let n: u64 = data.get("n").map(|v| v.parse().unwrap()).unwrap_or(0);
                data.insert("n".into(), (n + 1).to_string());
                match api.replace("counter", &PostParams::default(), &cur).await {
                    Ok(_) => done += 1,
                    Err(kube::Error::Api(s)) if s.code == 409 => continue,
                    Err(e) => panic!("unexpected error {e:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = WRITERS * INCREMENTS;
    assert_eq!(
        api.get("counter").await.unwrap().data.unwrap()["n"],
        total.to_string(),
        "no lost update"
    );

    // The watch saw every successful write, in order, with increasing resourceVersions.
    let mut last_rv: u64 = start.parse().unwrap();
    for i in 1..=total {
        match next_event(&mut stream).await {
            WatchEvent::Modified(o) => {
                assert_eq!(o.data.unwrap()["n"], i.to_string());
                let rv: u64 = o.metadata.resource_version.unwrap().parse().unwrap();
                assert!(rv > last_rv);
                last_rv = rv;
            }
            other => panic!("expected MODIFIED, got {other:?}"),
        }
    }
    env.stop().await;
}

#[tokio::test]
async fn dropped_watches_end_cleanly_and_resume() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let first = api
        .create(&PostParams::default(), &cm("a", "x"))
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    env.drop_watches();
    loop {
        match tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("the stream ends in time")
        {
            None => break,
            Some(Ok(WatchEvent::Bookmark(_))) => continue,
            Some(other) => panic!("expected the end of the stream, got {other:?}"),
        }
    }
    // Changes made meanwhile are delivered to a watch resumed from the last resourceVersion.
    api.create(&PostParams::default(), &cm("b", "x"))
        .await
        .unwrap();
    let mut resumed = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        name_of(&next_event(&mut resumed).await),
        ("ADDED", "b".into())
    );
    env.stop().await;
}

#[tokio::test]
async fn metadata_only_lists_and_watches() {
    use kube::core::PartialObjectMeta;
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &cm("meta", "x"))
        .await
        .unwrap();

    let list = api.list_metadata(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("meta"));
    assert_eq!(
        api.get_metadata("meta")
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap()["app"],
        "x"
    );
    let raw = env
        .client()
        .request_text(
            http::Request::get("/api/v1/namespaces/default/configmaps")
                .header(
                    "Accept",
                    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                )
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(raw["kind"], "PartialObjectMetadataList");
    assert_eq!(raw["items"][0]["kind"], "PartialObjectMetadata");
    assert!(raw["items"][0].get("data").is_none(), "metadata only");

    // kube 5's metadata watches: an Api of PartialObjectMeta sends metadata-only requests.
    let meta_api: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(env.client(), "default");
    let mut events = watcher(meta_api, watcher::Config::default()).boxed();
    assert!(matches!(
        next_watcher_event(&mut events).await,
        watcher::Event::Init
    ));
    assert!(matches!(
        next_watcher_event(&mut events).await,
        watcher::Event::InitApply(_)
    ));
    assert!(matches!(
        next_watcher_event(&mut events).await,
        watcher::Event::InitDone
    ));
    api.patch(
        "meta",
        &Default::default(),
        &kube::api::Patch::Merge(json!({ "metadata": { "labels": { "app": "y" } } })),
    )
    .await
    .unwrap();
    match next_watcher_event(&mut events).await {
        watcher::Event::Apply(m) => assert_eq!(m.metadata.labels.unwrap()["app"], "y"),
        other => panic!("expected Apply, got {other:?}"),
    }
    env.stop().await;
}
