//! TokenReview and SubjectAccessReview, for components that delegate authentication and
//! authorization to the API server (an operator's secure `/metrics` endpoint).
//!
//! The embedded server itself still lets every request through. The reviews allow everything
//! by default ([`Reviews::AllowAll`]); with [`Reviews::Rbac`] they judge from objects stored
//! in the server, as a cluster would:
//! - **Tokens** are those of Secrets of type `kubernetes.io/service-account-token`: a token
//!   equal to a Secret's `data.token` authenticates as the service account named by its
//!   `kubernetes.io/service-account.name` annotation (`system:serviceaccount:<ns>:<name>`,
//!   groups `system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`).
//!   Any other token is not authenticated.
//! - **Authorization** is RBAC (`rbac.authorization.k8s.io/v1`): a request is allowed when a
//!   binding whose subjects include the user, one of its groups or its service account refers
//!   to a role with a matching rule — ClusterRoleBindings to ClusterRoles anywhere,
//!   RoleBindings (to a Role of their namespace or a ClusterRole) within their namespace (`nonResourceURLs` with a trailing `*` as prefix match, or `apiGroups`,
//!   `resources` and `resourceNames`; `*` everywhere). The group `system:masters` may do
//!   everything.

use base64::Engine;
use bytes::Bytes;
use http::request::Parts;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::server::Shared;
use crate::status::{ApiError, json_response};

/// Answers `POST .../tokenreviews` and `.../subjectaccessreviews`; `None` for other requests.
pub(crate) fn route(
    shared: &Shared,
    parts: &Parts,
    body: &Bytes,
) -> Option<Result<axum::response::Response, ApiError>> {
    let path = parts.uri.path().trim_end_matches('/');
    let (review, resource) = match path {
        "/apis/authentication.k8s.io/v1/tokenreviews" => (Review::Token, "tokenreviews"),
        "/apis/authorization.k8s.io/v1/subjectaccessreviews" => {
            (Review::SubjectAccess, "subjectaccessreviews")
        }
        _ => return None,
    };
    if parts.method != Method::POST {
        return Some(Err(ApiError::method_not_allowed(format!(
            "{} is not allowed on {path}: reviews are create-only",
            parts.method
        ))));
    }
    if let Some(failure) = shared.take_failure("create", resource) {
        return Some(Err(failure));
    }
    let mut request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Some(Err(ApiError::bad_request(format!(
                "could not decode the review: {e}"
            ))));
        }
    };
    let spec = request.get("spec").cloned().unwrap_or(Value::Null);
    let policy = *shared.reviews.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = shared.lock();
    let status = match (review, policy) {
        (Review::Token, Reviews::DenyAll) => unauthenticated(),
        (Review::Token, Reviews::AllowAll) => {
            token_review(&cluster.store, &spec).unwrap_or_else(|| anyone(&spec))
        }
        (Review::Token, Reviews::Rbac) => {
            token_review(&cluster.store, &spec).unwrap_or_else(unauthenticated)
        }
        (Review::SubjectAccess, Reviews::DenyAll) => json!({
            "allowed": false,
            "reason": "kubesmith-envtest: every access review is denied (Reviews::DenyAll)",
        }),
        (Review::SubjectAccess, Reviews::AllowAll) => json!({
            "allowed": true,
            "reason": "kubesmith-envtest: every access review is allowed (Reviews::AllowAll)",
        }),
        (Review::SubjectAccess, Reviews::Rbac) => subject_access_review(&cluster.store, &spec),
    };
    if let Some(obj) = request.as_object_mut() {
        obj.insert("status".into(), status);
        obj.entry("metadata").or_insert_with(|| json!({}));
    }
    Some(Ok(json_response(StatusCode::CREATED, &request)))
}

/// How the server answers TokenReviews and SubjectAccessReviews, which operators that
/// delegate authentication and authorization to the API server send (the secure metrics
/// endpoint does, for every scrape). Set with
/// [`Environment::set_reviews`](crate::Environment::set_reviews).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reviews {
    /// Every non-empty token authenticates (a service-account token Secret's token as its
    /// service account, any other as user `kubesmith-envtest-user` in `system:authenticated`)
    /// and every access review is allowed: tests that do not care about auth need no setup.
    #[default]
    AllowAll,
    /// As a cluster: only tokens of `kubernetes.io/service-account-token` Secrets authenticate,
    /// and access is decided by RBAC (ClusterRoleBindings, and RoleBindings in the request's
    /// namespace; `system:masters` may do anything).
    Rbac,
    /// No token authenticates and every access review is denied.
    DenyAll,
}

#[derive(Clone, Copy)]
enum Review {
    Token,
    SubjectAccess,
}

fn unauthenticated() -> Value {
    json!({ "authenticated": false, "user": {}, "error": "invalid bearer token" })
}

/// [`Reviews::AllowAll`]'s answer for a token no Secret holds.
fn anyone(spec: &Value) -> Value {
    if spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return unauthenticated();
    }
    json!({
        "authenticated": true,
        "user": { "username": "kubesmith-envtest-user", "groups": ["system:authenticated"] },
        "audiences": spec.get("audiences").cloned().unwrap_or_else(|| json!([])),
    })
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str()
}

/// The service account whose token Secret holds the token, or `None`.
fn token_review(store: &crate::store::Store, spec: &Value) -> Option<Value> {
    let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
    let key = (String::new(), "secrets".to_owned());
    let secret = (!token.is_empty())
        .then(|| {
            store.list(&key, None).find(|s| {
                s.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token")
                    && str_at(s, &["data", "token"])
                        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                        .is_some_and(|t| t == token.as_bytes())
            })
        })
        .flatten();
    let secret = secret?;
    let ns = str_at(&secret, &["metadata", "namespace"]).unwrap_or("");
    let annotations = &secret["metadata"]["annotations"];
    let sa = annotations["kubernetes.io/service-account.name"]
        .as_str()
        .unwrap_or("");
    let uid = annotations["kubernetes.io/service-account.uid"]
        .as_str()
        .unwrap_or("");
    Some(json!({
        "authenticated": true,
        "user": {
            "username": format!("system:serviceaccount:{ns}:{sa}"),
            "uid": uid,
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
        },
        "audiences": spec.get("audiences").cloned().unwrap_or_else(|| json!([])),
    }))
}

fn subject_access_review(store: &crate::store::Store, spec: &Value) -> Value {
    let user = spec.get("user").and_then(Value::as_str).unwrap_or("");
    let groups: Vec<&str> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if groups.contains(&"system:masters") {
        return json!({ "allowed": true, "reason": "member of system:masters" });
    }
    let request = Request::from_spec(spec);
    let Some(request) = request else {
        return json!({ "allowed": false, "evaluationError": "neither resourceAttributes nor nonResourceAttributes given" });
    };
    let rbac = |resource: &str| ("rbac.authorization.k8s.io".to_owned(), resource.to_owned());
    // ClusterRoleBindings grant everywhere; RoleBindings only in their own namespace, to a
    // Role there or to a ClusterRole (rbac/validation/rule.go `VisitRulesFor`).
    let (cluster_bindings_key, role_bindings_key) =
        (rbac("clusterrolebindings"), rbac("rolebindings"));
    let cluster_bindings = store
        .list(&cluster_bindings_key, None)
        .map(|b| ("ClusterRoleBinding", b));
    let namespace = request.namespace();
    let role_bindings = namespace
        .into_iter()
        .flat_map(|ns| store.list(&role_bindings_key, Some(ns)))
        .map(|b| ("RoleBinding", b));
    for (binding_kind, binding) in cluster_bindings.chain(role_bindings) {
        let subjects = binding.get("subjects").and_then(Value::as_array);
        let bound = subjects
            .into_iter()
            .flatten()
            .any(|s| subject_matches(s, user, &groups));
        if !bound {
            continue;
        }
        let role_kind = str_at(&binding, &["roleRef", "kind"]).unwrap_or("");
        let role_name = str_at(&binding, &["roleRef", "name"]).unwrap_or("");
        let role = match (binding_kind, role_kind) {
            (_, "ClusterRole") => store.get(&rbac("clusterroles"), "", role_name),
            ("RoleBinding", "Role") => {
                store.get(&rbac("roles"), namespace.unwrap_or(""), role_name)
            }
            _ => None,
        };
        let Some(role) = role else {
            continue;
        };
        let rules = role.get("rules").and_then(Value::as_array);
        if rules
            .into_iter()
            .flatten()
            .any(|rule| request.allowed_by(rule))
        {
            let binding_name = str_at(&binding, &["metadata", "name"]).unwrap_or("");
            let place = match binding_kind {
                "RoleBinding" => format!(
                    "{binding_kind} \"{binding_name}/{}\"",
                    namespace.unwrap_or("")
                ),
                _ => format!("{binding_kind} \"{binding_name}\""),
            };
            return json!({
                "allowed": true,
                "reason": format!("RBAC: allowed by {place} of {role_kind} \"{role_name}\" to \"{user}\""),
            });
        }
    }
    json!({ "allowed": false })
}

fn subject_matches(subject: &Value, user: &str, groups: &[&str]) -> bool {
    let name = subject.get("name").and_then(Value::as_str).unwrap_or("");
    match subject.get("kind").and_then(Value::as_str) {
        Some("User") => name == user,
        Some("Group") => groups.contains(&name),
        Some("ServiceAccount") => {
            let ns = subject
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

/// What a SubjectAccessReview asks about.
enum Request<'a> {
    NonResource {
        path: &'a str,
        verb: &'a str,
    },
    Resource {
        verb: &'a str,
        group: &'a str,
        resource: String,
        name: &'a str,
        namespace: &'a str,
    },
}

impl<'a> Request<'a> {
    fn from_spec(spec: &'a Value) -> Option<Self> {
        if let Some(attrs) = spec.get("nonResourceAttributes") {
            return Some(Request::NonResource {
                path: attrs.get("path").and_then(Value::as_str).unwrap_or(""),
                verb: attrs.get("verb").and_then(Value::as_str).unwrap_or(""),
            });
        }
        let attrs = spec.get("resourceAttributes")?;
        let get = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or("");
        let resource = match get("subresource") {
            "" => get("resource").to_owned(),
            sub => format!("{}/{sub}", get("resource")),
        };
        Some(Request::Resource {
            verb: get("verb"),
            group: get("group"),
            resource,
            name: get("name"),
            namespace: get("namespace"),
        })
    }

    /// The namespace a resource request is about (`None` for cluster-wide and non-resource
    /// requests, which only ClusterRoleBindings can allow).
    fn namespace(&self) -> Option<&'a str> {
        match self {
            Request::Resource { namespace, .. } if !namespace.is_empty() => Some(namespace),
            _ => None,
        }
    }

    fn allowed_by(&self, rule: &Value) -> bool {
        let list = |k: &str| -> Vec<&str> {
            rule.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        let has = |k: &str, v: &str| list(k).iter().any(|x| *x == "*" || *x == v);
        match self {
            Request::NonResource { path, verb } => {
                has("verbs", verb)
                    && list("nonResourceURLs")
                        .iter()
                        .any(|url| match url.strip_suffix('*') {
                            Some(prefix) => path.starts_with(prefix),
                            None => url == path,
                        })
            }
            Request::Resource {
                verb,
                group,
                resource,
                name,
                ..
            } => {
                let names = list("resourceNames");
                has("verbs", verb)
                    && has("apiGroups", group)
                    && has("resources", resource)
                    && (names.is_empty() || names.contains(name))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_resource_rules_match_exact_paths_and_prefixes() {
        let rule = json!({ "nonResourceURLs": ["/metrics", "/debug/*"], "verbs": ["get"] });
        let allowed = |path, verb| Request::NonResource { path, verb }.allowed_by(&rule);
        assert!(allowed("/metrics", "get"));
        assert!(allowed("/debug/pprof", "get"));
        assert!(!allowed("/metrics", "post"));
        assert!(!allowed("/metricsx", "get"));
    }

    #[test]
    fn subjects_match_users_groups_and_service_accounts() {
        let user = "system:serviceaccount:ops:prometheus";
        let groups = ["system:authenticated"];
        assert!(subject_matches(
            &json!({"kind": "ServiceAccount", "name": "prometheus", "namespace": "ops"}),
            user,
            &groups
        ));
        assert!(subject_matches(
            &json!({"kind": "Group", "name": "system:authenticated"}),
            user,
            &groups
        ));
        assert!(!subject_matches(
            &json!({"kind": "ServiceAccount", "name": "prometheus", "namespace": "default"}),
            user,
            &groups
        ));
    }
}
