//! `#[resource]` lowers to kube-derive: the root type exists, implements
//! `kube::Resource` and `kube::CustomResourceExt`, and its CRD carries the names,
//! scope, version and status subresource given in the attribute.

use kube::{CustomResourceExt, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[kubesmith_derive::resource(group = "cache.example.com", version = "v1alpha1", kind = "Memcached",
                             namespaced, status = "MemcachedStatus", plural = "memcacheds",
                             singular = "memcached", shortnames = ["mc", "mem"], categories = ["all"])]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemcachedSpec {
    /// Number of replicas.
    pub size: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemcachedStatus {
    pub nodes: Vec<String>,
}

mod cluster {
    use super::*;

    /// The status type as a bare path, scope given explicitly.
    #[kubesmith_derive::resource(group = "infra.example.com", version = "v2beta1", kind = "Cluster",
                                 scope = "Cluster", status = super::MemcachedStatus)]
    #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
    pub struct ClusterSpec {
        pub region: String,
    }
}

#[test]
fn memcached_crd_has_names_scope_version_and_status() {
    let crd = Memcached::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("memcacheds.cache.example.com")
    );
    assert_eq!(Memcached::crd_name(), "memcacheds.cache.example.com");
    let spec = &crd.spec;
    assert_eq!(spec.group, "cache.example.com");
    assert_eq!(spec.scope, "Namespaced");
    assert_eq!(spec.names.kind, "Memcached");
    assert_eq!(spec.names.plural, "memcacheds");
    assert_eq!(spec.names.singular.as_deref(), Some("memcached"));
    assert_eq!(
        spec.names.short_names.as_deref(),
        Some(&["mc".to_string(), "mem".to_string()][..])
    );
    assert_eq!(
        spec.names.categories.as_deref(),
        Some(&["all".to_string()][..])
    );
    assert_eq!(spec.versions.len(), 1);
    let v = &spec.versions[0];
    assert_eq!(v.name, "v1alpha1");
    assert!(v.served && v.storage);
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let schema = v
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("openAPIV3Schema");
    let json = serde_json::to_value(schema).unwrap();
    assert_eq!(
        json["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );
    assert_eq!(
        json["properties"]["status"]["properties"]["nodes"]["type"],
        "array"
    );
    assert_eq!(json["required"], serde_json::json!(["spec"]));
}

#[test]
fn root_type_is_a_kube_resource() {
    let mut m = Memcached::new("sample", MemcachedSpec { size: 3 });
    m.metadata.namespace = Some("default".into());
    assert_eq!(Memcached::kind(&()), "Memcached");
    assert_eq!(Memcached::api_version(&()), "cache.example.com/v1alpha1");
    assert_eq!(Memcached::plural(&()), "memcacheds");
    assert_eq!(Memcached::shortnames(), &["mc", "mem"]);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["kind"], "Memcached");
    assert_eq!(json["spec"]["size"], 3);
    let _api: kube::api::ApiResource = Memcached::api_resource();
}

#[test]
fn cluster_scoped_with_path_status() {
    let crd = cluster::Cluster::crd();
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.plural, "clusters");
    assert_eq!(crd.spec.versions[0].name, "v2beta1");
    assert!(
        crd.spec.versions[0]
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let c = cluster::Cluster::new(
        "c",
        cluster::ClusterSpec {
            region: "eu".into(),
        },
    );
    assert!(c.status.is_none());
}
