//! `#[rbac]` leaves the item unchanged, on any kind of item, repeated.

#[kubesmith_derive::rbac(groups = ["cache.example.com"], resources = ["memcacheds"],
                         verbs = ["get", "list", "watch", "create", "update", "patch", "delete"])]
#[kubesmith_derive::rbac(groups = ["cache.example.com"], resources = ["memcacheds/status"], verbs = ["get", "update", "patch"])]
#[kubesmith_derive::rbac(groups = [""], resources = ["events"], verbs = ["create", "patch"])]
pub struct MemcachedReconciler {
    pub name: &'static str,
}

pub trait Reconcile {
    fn name(&self) -> &'static str;
}

#[kubesmith_derive::rbac(urls = ["/metrics"], verbs = ["get"])]
#[kubesmith_derive::rbac(
    groups = "apps",
    resources = "deployments",
    verbs = "*",
    namespace = "ops",
    role_name = "deployer"
)]
impl Reconcile for MemcachedReconciler {
    fn name(&self) -> &'static str {
        self.name
    }
}

#[kubesmith_derive::rbac(groups = ["core"], resources = ["pods"], resource_names = ["one"], verbs = ["get"])]
fn helper() -> u8 {
    7
}

#[test]
fn items_are_unchanged() {
    let r = MemcachedReconciler { name: "memcached" };
    assert_eq!(r.name(), "memcached");
    assert_eq!(helper(), 7);
}
