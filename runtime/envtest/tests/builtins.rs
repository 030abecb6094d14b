//! The built-in kinds operators touch, through the typed kube client: each is decoded into its
//! k8s-openapi type, workloads track generation, own status through `/status` and scale
//! through `/scale`, and strategic merge patches merge pod-template lists by key.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubesmith_envtest::Environment;
use serde_json::json;

fn pod_template() -> serde_json::Value {
    json!({
        "metadata": { "labels": { "app": "web" } },
        "spec": { "containers": [{ "name": "web", "image": "nginx:1", "env": [{ "name": "A", "value": "1" }] }] }
    })
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name },
        "spec": { "selector": { "matchLabels": { "app": "web" } }, "template": pod_template() }
    }))
    .unwrap()
}

#[tokio::test]
async fn deployment_generation_status_and_scale() {
    let env = Environment::start().await.unwrap();
    let deploys: Api<Deployment> = Api::namespaced(env.client(), "default");
    let mut sent = deployment("web");
    // A create cannot set status: the deployment strategy resets it.
    sent.status = Some(serde_json::from_value(json!({ "readyReplicas": 3 })).unwrap());
    let created = deploys.create(&PostParams::default(), &sent).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.status, Some(Default::default()));
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1), "apps/v1 defaults replicas to 1");
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    let rolling = spec
        .strategy
        .as_ref()
        .unwrap()
        .rolling_update
        .as_ref()
        .unwrap();
    assert_eq!(
        serde_json::to_value(rolling).unwrap(),
        json!({ "maxSurge": "25%", "maxUnavailable": "25%" })
    );
    // The pod template is defaulted as core/v1 does, as a controller comparing specs sees it.
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        (
            pod.restart_policy.as_deref(),
            pod.dns_policy.as_deref(),
            pod.termination_grace_period_seconds
        ),
        (Some("Always"), Some("ClusterFirst"), Some(30))
    );
    let container = &pod.containers[0];
    assert_eq!(container.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        container.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    let mut recreate = deployment("recreate");
    recreate.spec.as_mut().unwrap().strategy =
        Some(serde_json::from_value(json!({ "type": "Recreate" })).unwrap());
    let recreate = deploys
        .create(&PostParams::default(), &recreate)
        .await
        .unwrap();
    let strategy = recreate.spec.unwrap().strategy.unwrap();
    assert!(
        strategy.rolling_update.is_none(),
        "rolling-update defaults only for RollingUpdate"
    );
    let mut latest = deployment("latest");
    latest
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some("registry.example.com:5000/team/app".into());
    let latest = deploys
        .create(&PostParams::default(), &latest)
        .await
        .unwrap();
    let pulled = latest.spec.unwrap().template.spec.unwrap().containers[0]
        .image_pull_policy
        .clone();
    assert_eq!(
        pulled.as_deref(),
        Some("Always"),
        "an untagged image is :latest"
    );

    // A spec change bumps the generation; a metadata-only change does not.
    let pp = PatchParams::default();
    let labelled = deploys
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({ "metadata": { "labels": { "tier": "front" } } })),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let scaled = deploys
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({ "spec": { "replicas": 2 } })),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));

    // Status goes through /status only, without touching the generation.
    let status =
        json!({ "status": { "replicas": 2, "readyReplicas": 2, "observedGeneration": 2 } });
    let with_status = deploys
        .patch_status("web", &pp, &Patch::Merge(status))
        .await
        .unwrap();
    assert_eq!(with_status.metadata.generation, Some(2));
    assert_eq!(with_status.status.as_ref().unwrap().ready_replicas, Some(2));
    let ignored = deploys
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({ "status": { "readyReplicas": 0 } })),
        )
        .await
        .unwrap();
    assert_eq!(ignored.status.as_ref().unwrap().ready_replicas, Some(2));

    // /scale: an autoscaling/v1 view with the formatted selector; writes go to spec.replicas.
    let scale = deploys.get_scale("web").await.unwrap();
    let scale_status = scale.status.unwrap();
    assert_eq!(
        (scale.spec.unwrap().replicas, scale_status.replicas),
        (Some(2), 2)
    );
    assert_eq!(scale_status.selector.as_deref(), Some("app=web"));
    deploys
        .patch_scale(
            "web",
            &pp,
            &Patch::Merge(json!({ "spec": { "replicas": 5 } })),
        )
        .await
        .unwrap();
    let after = deploys.get("web").await.unwrap();
    assert_eq!(after.spec.unwrap().replicas, Some(5));
    assert_eq!(after.metadata.generation, Some(3));
    env.stop().await;
}

#[tokio::test]
async fn strategic_merge_merges_containers_and_env_by_name() {
    let env = Environment::start().await.unwrap();
    let deploys: Api<Deployment> = Api::namespaced(env.client(), "default");
    deploys
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let patch = json!({ "spec": { "template": { "spec": { "containers": [
        { "name": "web", "image": "nginx:2", "env": [{ "name": "B", "value": "2" }] },
        { "name": "sidecar", "image": "busybox" }
    ] } } } });
    let patched = deploys
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let containers = patched.spec.unwrap().template.spec.unwrap().containers;
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["web", "sidecar"]);
    assert_eq!(containers[0].image.as_deref(), Some("nginx:2"));
    let env_names: Vec<&str> = containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(env_names, ["A", "B"]);
    env.stop().await;
}

#[tokio::test]
async fn a_body_that_does_not_fit_the_type_is_a_bad_request() {
    let env = Environment::start().await.unwrap();
    let deploys: Api<kube::api::DynamicObject> = Api::namespaced_with(
        env.client(),
        "default",
        &kube::api::ApiResource::erase::<Deployment>(&()),
    );
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "bad" },
        "spec": { "replicas": "three", "selector": {}, "template": {} }
    }))
    .unwrap();
    let err = deploys
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}");
    };
    assert_eq!(status.code, 400);
    assert!(
        status
            .message
            .contains("Deployment in version \"v1\" cannot be handled as a Deployment"),
        "{}",
        status.message
    );
    env.stop().await;
}

/// Every served operator kind round-trips through its typed Api (create, get, list, delete).
#[tokio::test]
async fn every_operator_kind_is_served_typed() {
    let env = Environment::start().await.unwrap();
    let c = env.client();
    let pp = PostParams::default();
    let template = pod_template();
    let selector = json!({ "matchLabels": { "app": "web" } });

    macro_rules! roundtrip {
        ($api:expr, $body:expr) => {{
            let api = $api;
            let obj = serde_json::from_value($body).unwrap();
            let created = api.create(&pp, &obj).await.unwrap();
            let name = created.metadata.name.clone().unwrap();
            api.get(&name).await.unwrap();
            assert_eq!(api.list(&Default::default()).await.unwrap().items.len(), 1);
            api.delete(&name, &Default::default()).await.unwrap();
            created
        }};
    }

    let pod: Pod = roundtrip!(
        Api::<Pod>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "p" }, "spec": template["spec"] })
    );
    assert_eq!(pod.status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(pod.spec.unwrap().restart_policy.as_deref(), Some("Always"));
    let rs: ReplicaSet = roundtrip!(
        Api::<ReplicaSet>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "rs" }, "spec": { "selector": selector, "template": template } })
    );
    assert_eq!(rs.metadata.generation, Some(1));
    let _: StatefulSet = roundtrip!(
        Api::<StatefulSet>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "sts" }, "spec": { "selector": selector, "serviceName": "sts", "template": template } })
    );
    let _: DaemonSet = roundtrip!(
        Api::<DaemonSet>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "ds" }, "spec": { "selector": selector, "template": template } })
    );
    let job: Job = roundtrip!(
        Api::<Job>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "job" }, "spec": { "template": template } })
    );
    assert_eq!(job.spec.unwrap().backoff_limit, Some(6));
    let _: CronJob = roundtrip!(
        Api::<CronJob>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "cj" }, "spec": { "schedule": "*/5 * * * *", "jobTemplate": { "spec": { "template": template } } } })
    );
    let rule = json!([{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"] }]);
    let _: Role = roundtrip!(
        Api::<Role>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "r" }, "rules": rule })
    );
    let _: ClusterRole = roundtrip!(
        Api::<ClusterRole>::all(c.clone()),
        json!({ "metadata": { "name": "cr" }, "rules": rule })
    );
    let subjects = json!([{ "kind": "ServiceAccount", "name": "default", "namespace": "default" }]);
    let _: RoleBinding = roundtrip!(
        Api::<RoleBinding>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "rb" }, "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r" }, "subjects": subjects })
    );
    let _: ClusterRoleBinding = roundtrip!(
        Api::<ClusterRoleBinding>::all(c.clone()),
        json!({ "metadata": { "name": "crb" }, "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr" }, "subjects": subjects })
    );
    let np: NetworkPolicy = roundtrip!(
        Api::<NetworkPolicy>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "np" }, "spec": { "podSelector": selector } })
    );
    assert_eq!(
        np.spec.unwrap().policy_types,
        Some(vec!["Ingress".to_string()])
    );
    let hook = json!({ "name": "v.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "clientConfig": { "service": { "namespace": "default", "name": "hook", "path": "/validate" } } });
    let _: MutatingWebhookConfiguration = roundtrip!(
        Api::<MutatingWebhookConfiguration>::all(c.clone()),
        json!({ "metadata": { "name": "m" }, "webhooks": [hook] })
    );
    let _: ValidatingWebhookConfiguration = roundtrip!(
        Api::<ValidatingWebhookConfiguration>::all(c.clone()),
        json!({ "metadata": { "name": "v" }, "webhooks": [hook] })
    );
    let _: PodDisruptionBudget = roundtrip!(
        Api::<PodDisruptionBudget>::namespaced(c.clone(), "default"),
        json!({ "metadata": { "name": "pdb" }, "spec": { "selector": selector, "minAvailable": 1 } })
    );
    env.stop().await;
}
