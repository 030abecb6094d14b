pub struct Defaulter;

#[kubesmith_derive::webhook(path = "/mutate", mutating = true, failure_policy = "fail", sideEffects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "ma.a.io", admission_review_versions = ["v1"])]
impl Defaulter {}

#[kubesmith_derive::webhook(path = "/mutate", mutating = true, failure_policy = "fail", side_effects = "Some", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "ma.a.io", admission_review_versions = ["v1"])]
pub fn side_effects() {}

#[kubesmith_derive::webhook(path = "/mutate", mutating = true, failure_policy = "fial", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "ma.a.io", admission_review_versions = ["v1"])]
pub fn failure_policy() {}

#[kubesmith_derive::webhook(path = "/mutate", mutating = true, failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create", "patch"], versions = ["v1"], name = "ma.a.io", admission_review_versions = ["v1"])]
pub fn verbs() {}

#[kubesmith_derive::webhook(path = "/mutate", mutating = "yes", failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "ma.a.io", admission_review_versions = ["v1"])]
pub fn mutating() {}

#[kubesmith_derive::webhook(path = "/mutate", mutating = true, failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "ma.a.io", admission_review_versions = ["v1"], object_selector = "tier in frontend")]
pub fn selector() {}

fn main() {}
