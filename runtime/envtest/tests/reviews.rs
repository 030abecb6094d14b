//! TokenReview and SubjectAccessReview under each [`Reviews`] policy: allow by default, RBAC
//! (ClusterRoleBindings and namespaced RoleBindings) on request, deny on request.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, DynamicObject, PostParams};
use kubesmith_envtest::{Environment, Reviews};
use serde_json::json;

async fn authenticate(env: &Environment, token: &str) -> Option<String> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.into()),
            ..TokenReviewSpec::default()
        },
        ..TokenReview::default()
    };
    let reviewed = Api::<TokenReview>::all(env.client())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    let status = reviewed.status.unwrap();
    (status.authenticated == Some(true)).then(|| status.user.unwrap().username.unwrap())
}

async fn allowed(env: &Environment, user: &str, spec: SubjectAccessReviewSpec) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            groups: Some(vec!["system:authenticated".into()]),
            ..spec
        },
        ..SubjectAccessReview::default()
    };
    Api::<SubjectAccessReview>::all(env.client())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

fn get_configmaps_in(namespace: &str) -> SubjectAccessReviewSpec {
    SubjectAccessReviewSpec {
        resource_attributes: Some(ResourceAttributes {
            verb: Some("get".into()),
            resource: Some("configmaps".into()),
            namespace: Some(namespace.into()),
            ..ResourceAttributes::default()
        }),
        ..SubjectAccessReviewSpec::default()
    }
}

fn get_metrics() -> SubjectAccessReviewSpec {
    SubjectAccessReviewSpec {
        non_resource_attributes: Some(NonResourceAttributes {
            path: Some("/metrics".into()),
            verb: Some("get".into()),
        }),
        ..SubjectAccessReviewSpec::default()
    }
}

async fn create(env: &Environment, object: serde_json::Value) {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    let types = object.types.clone().unwrap();
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", &types.api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
    let (resource, _) = kube::discovery::pinned_kind(&env.client(), &gvk)
        .await
        .unwrap();
    let api: Api<DynamicObject> = match &object.metadata.namespace {
        Some(ns) => Api::namespaced_with(env.client(), ns, &resource),
        None => Api::all_with(env.client(), &resource),
    };
    api.create(&PostParams::default(), &object).await.unwrap();
}

#[tokio::test]
async fn reviews_allow_everything_by_default() {
    let env = Environment::start().await.unwrap();
    assert_eq!(
        authenticate(&env, "any-token").await.as_deref(),
        Some("kubesmith-envtest-user")
    );
    assert_eq!(authenticate(&env, "").await, None);
    assert!(allowed(&env, "kubesmith-envtest-user", get_metrics()).await);
    assert!(allowed(&env, "someone", get_configmaps_in("default")).await);
    env.stop().await;
}

#[tokio::test]
async fn reviews_deny_everything_when_told() {
    let env = Environment::start().await.unwrap();
    env.set_reviews(Reviews::DenyAll);
    assert_eq!(authenticate(&env, "any-token").await, None);
    assert!(!allowed(&env, "someone", get_metrics()).await);
    env.stop().await;
}

#[tokio::test]
async fn rbac_reviews_follow_service_account_tokens_and_role_bindings() {
    let env = Environment::start().await.unwrap();
    env.set_reviews(Reviews::Rbac);
    create(
        &env,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": "reader-token", "namespace": "default",
                          "annotations": { "kubernetes.io/service-account.name": "reader" } },
            "type": "kubernetes.io/service-account-token",
            "data": { "token": "c2VjcmV0" }, // "secret"
        }),
    )
    .await;
    let reader = "system:serviceaccount:default:reader";
    assert_eq!(authenticate(&env, "secret").await.as_deref(), Some(reader));
    assert_eq!(authenticate(&env, "forged").await, None);

    // Nothing bound yet: denied.
    assert!(!allowed(&env, reader, get_configmaps_in("default")).await);

    // A RoleBinding to a Role grants in its own namespace only.
    create(
        &env,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": { "name": "cm-reader", "namespace": "default" },
            "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"] }],
        }),
    )
    .await;
    create(
        &env,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": { "name": "reader-cm", "namespace": "default" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader" },
            "subjects": [{ "kind": "ServiceAccount", "name": "reader", "namespace": "default" }],
        }),
    )
    .await;
    assert!(allowed(&env, reader, get_configmaps_in("default")).await);
    assert!(!allowed(&env, reader, get_configmaps_in("kube-system")).await);
    // Non-resource URLs are only ever granted cluster-wide.
    assert!(!allowed(&env, reader, get_metrics()).await);

    // A ClusterRoleBinding grants everywhere.
    create(
        &env,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": { "name": "metrics-reader" },
            "rules": [{ "nonResourceURLs": ["/metrics"], "verbs": ["get"] }],
        }),
    )
    .await;
    create(
        &env,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": "reader-metrics" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metrics-reader" },
            "subjects": [{ "kind": "ServiceAccount", "name": "reader", "namespace": "default" }],
        }),
    )
    .await;
    assert!(allowed(&env, reader, get_metrics()).await);
    env.stop().await;
}
