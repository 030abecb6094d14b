pub struct Validator;

#[kubesmith_derive::webhook(path = "/validate", url = "https://example.com/validate", mutating = false, failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "va.a.io", admission_review_versions = ["v1"])]
impl Validator {}

#[kubesmith_derive::webhook(path = "/validate", mutating = false, failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "va.a.io")]
pub fn review_versions_required() {}

#[kubesmith_derive::webhook(path = "/validate", mutating = false, failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "va.a.io", admission_review_versions = ["v1"], timeout_seconds = 40)]
pub fn timeout() {}

#[kubesmith_derive::webhook(path = "/validate", mutating = false, failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "va.a.io", admission_review_versions = ["v1"], webhook_versions = ["v1beta1"])]
pub fn v1beta1() {}

#[kubesmith_derive::webhook(path = "/validate", mutating = false, failure_policy = "fail", side_effects = "None", groups = ["a.io"], resources = ["as"], verbs = ["create"], versions = ["v1"], name = "va.a.io", admission_review_versions = ["v1"], reinvocation_policy = "IfNeeded")]
pub fn reinvocation() {}

fn main() {}
