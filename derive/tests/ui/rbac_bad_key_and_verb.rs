pub struct Reconciler;

#[kubesmith_derive::rbac(groups = ["apps"], resource = ["deployments"], verbs = ["get"])]
impl Reconciler {}

#[kubesmith_derive::rbac(groups = ["apps"], resources = ["deployments"], verbs = ["get", "lsit"])]
pub fn a() {}

#[kubesmith_derive::rbac(groups = ["apps"], resources = ["deployments"], verbs = ["get"], verbs = ["list"])]
pub fn b() {}

fn main() {}
