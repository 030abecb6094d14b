#[kubesmith_derive::rbac(urls = ["/metrics"], resources = ["pods"], verbs = ["get"])]
pub fn a() {}

#[kubesmith_derive::rbac(resources = ["pods"], verbs = ["get"])]
pub fn b() {}

#[kubesmith_derive::rbac(groups = [""], resources = [pods], verbs = ["get"])]
pub fn c() {}

#[kubesmith_derive::rbac(groups = [""], resources = ["pods"])]
pub fn d() {}

#[kubesmith_derive::rbac(groups = ["Apps"], resources = ["deployments"], verbs = ["get"], namespace = "Ops")]
pub fn e() {}

fn main() {}
