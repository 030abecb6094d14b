//! Create, read, update, patch and delete through the kube client, with the API server's rules.

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kubesmith_envtest::Environment;
use serde_json::json;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>() },
        "data": { "key": "value" }
    }))
    .expect("valid ConfigMap")
}

#[tokio::test]
async fn configmap_crud() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");

    let created = api
        .create(&PostParams::default(), &cm("one", &[]))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert_eq!(meta.uid.as_ref().map(|u| u.len()), Some(36));
    assert!(meta.creation_timestamp.is_some());
    assert!(
        meta.generation.is_none(),
        "ConfigMaps do not track generation"
    );
    let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();

    let got = api.get("one").await.unwrap();
    assert_eq!(got.data.unwrap()["key"], "value");

    let mut changed = created.clone();
    changed.data = Some([("key".to_string(), "other".to_string())].into());
    let replaced = api
        .replace("one", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    assert_eq!(replaced.metadata.uid, created.metadata.uid);

    let patched = api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": { "extra": "x" } })),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.as_ref().unwrap()["extra"], "x");
    assert_eq!(patched.data.as_ref().unwrap()["key"], "other");

    // Stale resourceVersion: 409 with kube-apiserver's exact message.
    let err = api_error(
        api.replace("one", &PostParams::default(), &created)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 409);
    assert_eq!(err.reason, "Conflict");
    assert_eq!(
        err.message,
        "Operation cannot be fulfilled on configmaps \"one\": the object has been modified; please apply your changes to the latest version and try again"
    );

    let err = api_error(
        api.create(&PostParams::default(), &cm("one", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, "configmaps \"one\" already exists");

    let deleted = api.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(
        deleted.is_right(),
        "an immediate delete answers with a Status"
    );
    let err = api_error(api.get("one").await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "configmaps \"one\" not found");
    env.stop().await;
}

#[tokio::test]
async fn create_rules() {
    let env = Environment::start().await.unwrap();
    let missing: Api<ConfigMap> = Api::namespaced(env.client(), "nope");
    let err = api_error(
        missing
            .create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );

    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    let mut other_ns = cm("a", &[]);
    other_ns.metadata.namespace = Some("kube-system".into());
    let err = api_error(
        api.create(&PostParams::default(), &other_ns)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "the namespace of the provided object does not match the namespace sent on the request"
    );

    let mut generated = cm("", &[]);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let made = api
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &cm("dry", &[])).await.unwrap();
    assert_eq!(
        api_error(api.get("dry").await.unwrap_err()).code,
        404,
        "dry run persists nothing"
    );
    env.stop().await;
}

#[tokio::test]
async fn label_selectors_and_paging() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    for (name, app) in [
        ("a", "web"),
        ("b", "db"),
        ("c", "web"),
        ("d", "cache"),
        ("e", "web"),
    ] {
        api.create(&PostParams::default(), &cm(name, &[("app", app)]))
            .await
            .unwrap();
    }
    let names = |l: &kube::core::ObjectList<ConfigMap>| {
        l.items
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect::<Vec<_>>()
    };
    let sel = |s: &str| ListParams::default().labels(s);
    assert_eq!(
        names(&api.list(&sel("app=web")).await.unwrap()),
        ["a", "c", "e"]
    );
    assert_eq!(
        names(&api.list(&sel("app!=web")).await.unwrap()),
        ["b", "d"]
    );
    assert_eq!(
        names(&api.list(&sel("app in (db,cache)")).await.unwrap()),
        ["b", "d"]
    );
    assert_eq!(
        names(&api.list(&sel("app notin (web,db)")).await.unwrap()),
        ["d"]
    );
    assert_eq!(
        names(&api.list(&sel("!app")).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    let err = api_error(
        api.list(&ListParams::default().fields("data.key=x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "field label not supported: data.key")
    );
    let err = api_error(api.list(&sel("app in web")).await.unwrap_err());
    assert_eq!(err.code, 400);

    // With a selector a page says whether more match, not how many (ListMeta docs).
    let web = api.list(&sel("app=web").limit(2)).await.unwrap();
    assert_eq!(names(&web), ["a", "c"]);
    assert_eq!(web.metadata.remaining_item_count, None);
    let rest = api
        .list(
            &sel("app=web")
                .limit(2)
                .continue_token(web.metadata.continue_.as_deref().expect("more match")),
        )
        .await
        .unwrap();
    assert_eq!(names(&rest), ["e"]);
    assert!(rest.metadata.continue_.is_none());
    // A page that ends at the last match has no continue token.
    let not_web = api.list(&sel("app!=web").limit(2)).await.unwrap();
    assert_eq!(names(&not_web), ["b", "d"]);
    assert!(not_web.metadata.continue_.is_none());

    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().expect("a continue token");
    // Changes between pages do not show: every page reads the first page's snapshot.
    api.create(&PostParams::default(), &cm("bb", &[("app", "new")]))
        .await
        .unwrap();
    api.delete("c", &DeleteParams::default()).await.unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["c", "d"]);
    assert_eq!(second.metadata.remaining_item_count, Some(1));
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );
    let third = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(&third), ["e"]);
    assert!(third.metadata.continue_.is_none());

    // An exact resourceVersion lists that revision; one older than the history is 410.
    let rv = first.metadata.resource_version.clone().unwrap();
    let exact = ListParams::default()
        .at(&rv)
        .matching(kube::api::VersionMatch::Exact);
    assert_eq!(
        names(&api.list(&exact).await.unwrap()),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        names(&api.list(&ListParams::default()).await.unwrap()),
        ["a", "b", "bb", "d", "e"]
    );
    env.compact_history();
    let err = api_error(api.list(&exact).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
    env.stop().await;
}

#[tokio::test]
async fn custom_resource_generation_and_status() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let api = crontabs(env.client(), "default");

    let created = api
        .create(&PostParams::default(), &crontab("c1", "* * * * */5"))
        .await
        .unwrap();
    assert_eq!(generation(&created), 1);

    // Metadata-only change: generation stays.
    let labelled = api
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "a": "b" } } })),
        )
        .await
        .unwrap();
    assert_eq!(generation(&labelled), 1);

    // Spec change: generation + 1.
    let respec = api
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "cronSpec": "1 * * * *" } })),
        )
        .await
        .unwrap();
    assert_eq!(generation(&respec), 2);

    // Status through the main endpoint is ignored when a status subresource exists.
    let ignored = api
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "ready": true } })),
        )
        .await
        .unwrap();
    assert!(ignored.data.get("status").is_none());
    assert_eq!(generation(&ignored), 2);
    assert_eq!(rv(&ignored), rv(&respec), "an ignored change is a no-op");

    // Through /status it lands, spec changes there are ignored, generation never moves.
    let mut with_status = ignored.clone();
    with_status.data["status"] = json!({ "ready": true });
    with_status.data["spec"] = json!({ "cronSpec": "ignored" });
    let st = api
        .replace_status("c1", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(st.data["status"]["ready"], true);
    assert_eq!(st.data["spec"]["cronSpec"], "1 * * * *");
    assert_eq!(generation(&st), 2);
    let st = api
        .patch_status(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": "Done" } })),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"], json!({ "ready": true, "phase": "Done" }));
    assert_eq!(
        api.get_status("c1").await.unwrap().data["status"]["phase"],
        "Done"
    );

    // Custom resources require a resourceVersion on update.
    let mut no_rv = st.clone();
    no_rv.metadata.resource_version = None;
    let err = api_error(
        api.replace("c1", &PostParams::default(), &no_rv)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message.contains("metadata.resourceVersion"),
        "{}",
        err.message
    );

    // NotFound names resource.group.
    let err = api_error(api.get("missing").await.unwrap_err());
    assert_eq!(
        err.message,
        "crontabs.stable.example.com \"missing\" not found"
    );

    // Strategic merge patch is refused for custom resources.
    let err = api_error(
        api.patch(
            "c1",
            &PatchParams::default(),
            &Patch::Strategic(json!({ "spec": {} })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 415);

    // JSON patch with a failing test op changes nothing.
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{ "op": "test", "path": "/spec/cronSpec", "value": "wrong" }, { "op": "remove", "path": "/spec" }]))
            .unwrap();
    let err = api_error(
        api.patch("c1", &PatchParams::default(), &Patch::Json::<()>(ops))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert_eq!(
        api.get("c1").await.unwrap().data["spec"]["cronSpec"],
        "1 * * * *"
    );

    // Kind must match the URL.
    let mut wrong: DynamicObject = crontab("c2", "x");
    wrong.types.as_mut().unwrap().kind = "Other".into();
    let err = api_error(
        api.create(&PostParams::default(), &wrong)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    env.stop().await;
}

#[tokio::test]
async fn finalizers_keep_objects_until_removed() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let api = crontabs(env.client(), "default");
    let mut obj = crontab("held", "x");
    obj.metadata.finalizers = Some(vec!["example.com/cleanup".into()]);
    api.create(&PostParams::default(), &obj).await.unwrap();

    let deleting = api
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the object, not a Status");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        generation(&deleting),
        2,
        "the first delete bumps generation"
    );
    // Deleting again changes nothing.
    let again = api
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(rv(&again), rv(&deleting));

    let err = api_error(
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "metadata": { "finalizers": ["example.com/cleanup", "example.com/new"] } }),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("no new finalizers can be added if the object is being deleted"),
        "{}",
        err.message
    );

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
    assert_eq!(api_error(api.get("held").await.unwrap_err()).code, 404);
    env.stop().await;
}

#[tokio::test]
async fn namespaces_and_crd_lifecycle() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(env.client());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );

    let ns: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": "scratch" } })).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "scratch");
    cms.create(&PostParams::default(), &cm("inside", &[]))
        .await
        .unwrap();
    namespaces
        .delete("scratch", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(namespaces.get("scratch").await.unwrap_err()).code,
        404
    );
    assert_eq!(api_error(cms.get("inside").await.unwrap_err()).code, 404);
    let err = api_error(
        namespaces
            .delete("default", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);

    // CRD status, then deleting the CRD stops serving its kind.
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(env.client());
    let crd = crds.get("crontabs.stable.example.com").await.unwrap();
    let status = crd.status.unwrap();
    let conditions = status.conditions.unwrap();
    for (t, reason) in [
        ("NamesAccepted", "NoConflicts"),
        ("Established", "InitialNamesAccepted"),
    ] {
        let c = conditions.iter().find(|c| c.type_ == t).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("True", Some(reason))
        );
    }
    assert_eq!(status.stored_versions.unwrap(), ["v1"]);
    assert_eq!(
        status.accepted_names.unwrap().singular.as_deref(),
        Some("crontab")
    );

    let api = crontabs(env.client(), "default");
    api.create(&PostParams::default(), &crontab("x", "y"))
        .await
        .unwrap();
    crds.delete("crontabs.stable.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let err = api_error(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "the server could not find the requested resource")
    );

    // Re-installing serves it again, empty.
    env.install_crds([crontab_crd()]).await.unwrap();
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    env.stop().await;
}

#[tokio::test]
async fn crds_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let crd = serde_yaml::to_string(&crontab_crd()).unwrap();
    std::fs::write(
        dir.path().join("crds.yaml"),
        format!("{crd}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources: [crds.yaml]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not yaml").unwrap();
    let env = Environment::builder()
        .crd_dir(dir.path().to_path_buf())
        .start()
        .await
        .unwrap();
    crontabs(env.client(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    env.stop().await;

    std::fs::write(
        dir.path().join("broken.yaml"),
        "kind: CustomResourceDefinition\napiVersion: apiextensions.k8s.io/v1\nspec: 3\n",
    )
    .unwrap();
    let err = Environment::builder()
        .crd_dir(dir.path().to_path_buf())
        .start()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("broken.yaml") && msg.contains("document 1"),
        "{msg}"
    );
}

#[tokio::test]
async fn environments_are_independent() {
    let a = Environment::start().await.unwrap();
    let b = Environment::start().await.unwrap();
    assert_ne!(a.url(), b.url());
    let api_a: Api<ConfigMap> = Api::namespaced(a.client(), "default");
    let api_b: Api<ConfigMap> = Api::namespaced(b.client(), "default");
    api_a
        .create(&PostParams::default(), &cm("only-in-a", &[]))
        .await
        .unwrap();
    assert_eq!(
        api_error(api_b.get("only-in-a").await.unwrap_err()).code,
        404
    );
    let url = a.url();
    a.stop().await;
    // The port is free again once stop returns.
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let again = Environment::builder().port(port).start().await.unwrap();
    assert_eq!(again.url(), url);
    b.stop().await;
    again.stop().await;

    // Dropping an environment stops it too: the port stops accepting connections.
    let dropped = Environment::start().await.unwrap();
    let addr = dropped.url().trim_start_matches("http://").to_string();
    drop(dropped);
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dropped server still accepts connections"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn apply_and_strategic_merge_patches() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");

    // Strategic merge patch on a built-in: maps merge, finalizers merge as a set.
    let mut first = cm("smp", &[("a", "1")]);
    first.metadata.finalizers = Some(vec!["x/one".into()]);
    api.create(&PostParams::default(), &first).await.unwrap();
    let patched = api
        .patch(
            "smp",
            &PatchParams::default(),
            &Patch::Strategic(json!({ "metadata": { "labels": { "b": "2" }, "finalizers": ["x/two"] }, "data": { "key": null } })),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap().len(), 2);
    assert_eq!(patched.metadata.finalizers.unwrap(), ["x/one", "x/two"]);
    assert!(patched.data.unwrap_or_default().is_empty());

    // Server-side apply (subset): fieldManager required, creates with 201, merges on re-apply.
    let ct = crontabs(env.client(), "default");
    let applied = json!({ "apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": { "name": "ssa" }, "spec": { "cronSpec": "a", "image": "x" } });
    let err = api_error(
        ct.patch("ssa", &PatchParams::default(), &Patch::Apply(&applied))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("fieldManager: Required value"),
        "{}",
        err.message
    );
    let created = ct
        .patch(
            "ssa",
            &PatchParams::apply("tester"),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(generation(&created), 1);
    let reapplied = ct
        .patch(
            "ssa",
            &PatchParams::apply("tester").force(),
            &Patch::Apply(json!({ "apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": { "name": "ssa" }, "spec": { "cronSpec": "b" } })),
        )
        .await
        .unwrap();
    // The manager no longer applies `image`, and nobody else owns it: it is removed.
    assert_eq!(reapplied.data["spec"], json!({ "cronSpec": "b" }));
    assert_eq!(generation(&reapplied), 2);
    let owners: Vec<(String, String)> = reapplied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(owners, [("tester".to_string(), "Apply".to_string())]);

    // Another manager applying a different value conflicts, unless it forces.
    let other = json!({ "apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": { "name": "ssa" }, "spec": { "cronSpec": "c" } });
    let err = api_error(
        ct.patch("ssa", &PatchParams::apply("other"), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"tester\" using stable.example.com/v1: .spec.cronSpec"
    );
    let forced = ct
        .patch(
            "ssa",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["cronSpec"], "c");
    // Re-applying the same configuration is a no-op.
    let again = ct
        .patch("ssa", &PatchParams::apply("other"), &Patch::Apply(&other))
        .await
        .unwrap();
    assert_eq!(rv(&again), rv(&forced));
    // A plain update takes ownership: the applier now conflicts with "editor".
    let edit = PatchParams {
        field_manager: Some("editor".into()),
        ..Default::default()
    };
    ct.patch(
        "ssa",
        &edit,
        &Patch::Merge(json!({ "spec": { "cronSpec": "d" } })),
    )
    .await
    .unwrap();
    let err = api_error(
        ct.patch("ssa", &PatchParams::apply("other"), &Patch::Apply(&other))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message.contains("conflict with \"editor\""),
        "{}",
        err.message
    );
    ct.patch("ssa", &PatchParams::apply("tester").force(), &Patch::Apply(json!({ "apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": { "name": "ssa" }, "spec": { "cronSpec": "b" } })))
        .await
        .unwrap();

    // dryRun on update and delete changes nothing.
    let dry = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let would = ct
        .patch(
            "ssa",
            &dry,
            &Patch::Merge(json!({ "spec": { "cronSpec": "c" } })),
        )
        .await
        .unwrap();
    assert_eq!(would.data["spec"]["cronSpec"], "c");
    assert_eq!(ct.get("ssa").await.unwrap().data["spec"]["cronSpec"], "b");
    ct.delete(
        "ssa",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(ct.get_opt("ssa").await.unwrap().is_some());
    let err = api_error(
        ct.patch(
            "ssa",
            &PatchParams {
                dry_run: true,
                ..Default::default()
            },
            &Patch::Merge(json!({ "metadata": { "resourceVersion": "1" } })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        err.code, 409,
        "a patch carrying a stale resourceVersion conflicts"
    );
    env.stop().await;
}

#[tokio::test]
async fn built_ins_are_checked_against_their_types() {
    let env = Environment::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(env.client(), "default");
    api.create(&PostParams::default(), &cm("typed", &[]))
        .await
        .unwrap();

    let typo = Patch::Merge(json!({ "datta": { "k": "v" } }));
    let err = api_error(
        api.patch("typed", &PatchParams::default().validation_strict(), &typo)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "strict decoding error: unknown field \"datta\"")
    );
    // The default (Warn) and Ignore accept the write and drop the field, like decoding into the Go type.
    api.patch("typed", &PatchParams::default(), &typo)
        .await
        .unwrap();
    api.patch("typed", &PatchParams::default().validation_ignore(), &typo)
        .await
        .unwrap();
    let raw = env
        .client()
        .request_text(
            http::Request::get("/api/v1/namespaces/default/configmaps/typed")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(!raw.contains("datta"), "{raw}");

    // A value of the wrong type does not decode: 400 naming the kind.
    let err = api_error(
        api.patch(
            "typed",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": { "k": 1 } })),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    assert!(
        err.message
            .starts_with("ConfigMap in version \"v1\" cannot be handled as a ConfigMap"),
        "{}",
        err.message
    );
    env.stop().await;
}

#[tokio::test]
async fn deleting_a_crd_waits_for_object_finalizers() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let api = crontabs(env.client(), "default");
    let mut held = crontab("held", "x");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.create(&PostParams::default(), &crontab("free", "x"))
        .await
        .unwrap();

    let crds: Api<CustomResourceDefinition> = Api::all(env.client());
    crds.delete("crontabs.stable.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = crds.get("crontabs.stable.example.com").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    let conditions = terminating.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Terminating" && c.status == "True")
    );
    assert!(api.get_opt("free").await.unwrap().is_none());
    assert!(
        api.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    let err = api_error(
        api.create(&PostParams::default(), &crontab("new", "x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            405,
            "create not allowed while custom resource definition is terminating"
        )
    );

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
    assert!(
        crds.get_opt("crontabs.stable.example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        api_error(api.list(&ListParams::default()).await.unwrap_err()).code,
        404
    );
    env.stop().await;
}

#[tokio::test]
async fn service_and_secret_defaults() {
    use k8s_openapi::api::core::v1::{Secret, Service};
    let env = Environment::start().await.unwrap();
    let services: Api<Service> = Api::namespaced(env.client(), "default");
    let kubernetes = services.get("kubernetes").await.unwrap().spec.unwrap();
    assert_eq!(kubernetes.cluster_ip.as_deref(), Some("10.96.0.1"));

    let svc: Service = serde_json::from_value(
        json!({ "metadata": { "name": "web" }, "spec": { "ports": [{ "port": 80 }] } }),
    )
    .unwrap();
    let created = services
        .create(&PostParams::default(), &svc)
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(created.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(created.cluster_ip.as_deref(), Some("10.96.0.2"));
    let port = &created.ports.unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
    // An update that leaves the cluster IP out keeps it.
    let mut replace = services.get("web").await.unwrap();
    replace.spec.as_mut().unwrap().cluster_ip = None;
    replace.spec.as_mut().unwrap().cluster_ips = None;
    let kept = services
        .replace("web", &PostParams::default(), &replace)
        .await
        .unwrap();
    assert_eq!(kept.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.2"));

    let secrets: Api<Secret> = Api::namespaced(env.client(), "default");
    let secret: Secret = serde_json::from_value(
        json!({ "metadata": { "name": "s" }, "stringData": { "password": "hunter2" } }),
    )
    .unwrap();
    let stored = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert_eq!(stored.type_.as_deref(), Some("Opaque"));
    assert_eq!(stored.data.unwrap()["password"].0, b"hunter2");
    assert!(stored.string_data.is_none(), "stringData is write-only");
    env.stop().await;
}

#[tokio::test]
async fn every_served_version_sees_the_same_objects() {
    let mut crd = serde_json::to_value(crontab_crd()).unwrap();
    let mut beta = crd["spec"]["versions"][0].clone();
    beta["name"] = json!("v1beta1");
    beta["storage"] = json!(false);
    let mut gone = beta.clone();
    gone["name"] = json!("v1alpha1");
    gone["served"] = json!(false);
    crd["spec"]["versions"]
        .as_array_mut()
        .unwrap()
        .extend([beta, gone]);
    let crd = serde_json::from_value(crd).unwrap();
    let env = Environment::builder().crds([crd]).start().await.unwrap();

    let gvk = |v: &str| kube::core::GroupVersionKind::gvk("stable.example.com", v, "CronTab");
    let at = |v: &str| {
        let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk(v), "crontabs");
        Api::<DynamicObject>::namespaced_with(env.client(), "default", &ar)
    };
    let mut obj = crontab("multi", "x");
    obj.types.as_mut().unwrap().api_version = "stable.example.com/v1beta1".into();
    at("v1beta1")
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
    let v1 = at("v1").get("multi").await.unwrap();
    assert_eq!(v1.types.unwrap().api_version, "stable.example.com/v1");
    assert_eq!(
        api_error(at("v1alpha1").get("multi").await.unwrap_err()).code,
        404,
        "unserved version"
    );

    let discovery = kube::Discovery::new(env.client()).run().await.unwrap();
    let group = discovery.get("stable.example.com").unwrap();
    assert_eq!(group.preferred_version_or_latest(), "v1");
    env.stop().await;
}

#[tokio::test]
async fn clashing_crd_names_are_rejected() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let mut clash = serde_json::to_value(crontab_crd()).unwrap();
    clash["metadata"]["name"] = json!("crontabs2.stable.example.com");
    clash["spec"]["names"]["plural"] = json!("crontabs2");
    let err = env
        .install_crds([serde_json::from_value(clash).unwrap()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, kubesmith_envtest::Error::CrdRejected { .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the CRD crontabs2.stable.example.com was not accepted: \"CronTab\" is already in use"
    );
    // The original kind is still served.
    crontabs(env.client(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    env.stop().await;
}

#[tokio::test]
async fn a_namespace_waits_for_finalizers_of_its_content() {
    let env = Environment::builder()
        .crds([crontab_crd()])
        .start()
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(env.client());
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": "team" } })).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let api = crontabs(env.client(), "team");
    let mut held = crontab("held", "x");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();

    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("team").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let cms: Api<ConfigMap> = Api::namespaced(env.client(), "team");
    let err = api_error(
        cms.create(&PostParams::default(), &cm("late", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 403);
    assert!(
        err.message.contains("because it is being terminated"),
        "{}",
        err.message
    );

    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap();
    assert!(
        namespaces.get_opt("team").await.unwrap().is_none(),
        "the namespace goes with its last object"
    );
    env.stop().await;
}
