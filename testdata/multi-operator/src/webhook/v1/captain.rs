//! Webhooks of Captain v1 (crew.testproject.org).

use kubesmith_runtime::Manager;
use kubesmith_runtime::webhook;

use crate::api::crew::v1::Captain;

// EDIT THIS FILE! THIS IS SCAFFOLDING FOR YOU TO OWN!
// `kubesmith generate` writes config/webhook/manifests.yaml from the #[webhook] attributes below.

/// Registers the webhooks of Captain with the manager's webhook server.
pub fn add(mgr: &Manager) -> Result<(), kubesmith_runtime::Error> {
    webhook::Webhook::managed_by(mgr)
        .for_::<Captain>()
        .with_defaulter(CaptainCustomDefaulter)
        .with_validator(CaptainCustomValidator)
        .with_conversion::<crate::api::crew::v2::Captain>()
        // +kubesmith:scaffold:webhookbuilder
        .complete()
}

/// Sets the defaults of Captain objects when they are created or updated
/// (controller-runtime's `CustomDefaulter`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptainCustomDefaulter;

#[kubesmith_runtime::webhook(
    path = "/mutate-crew-testproject-org-v1-captain",
    mutating = true,
    failure_policy = "fail",
    side_effects = "None",
    groups = ["crew.testproject.org"],
    resources = ["captains"],
    verbs = ["create", "update"],
    versions = ["v1"],
    name = "mcaptain-v1.kb.io",
    admission_review_versions = ["v1"]
)]
impl webhook::Defaulter<Captain> for CaptainCustomDefaulter {
    async fn default(&self, obj: &mut Captain) -> Result<(), webhook::AdmissionError> {
        tracing::info!(name = ?obj.metadata.name, "defaulting Captain");
        // TODO(user): fill in your defaulting logic. An example: `foo` is "default" when unset.
        if obj.spec.foo.is_none() {
            obj.spec.foo = Some("default".to_string());
        }
        Ok(())
    }
}

/// Admits or denies Captain objects when they are created, updated or deleted
/// (controller-runtime's `CustomValidator`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptainCustomValidator;

// To validate deletion too, add "delete" to `verbs`.
#[kubesmith_runtime::webhook(
    path = "/validate-crew-testproject-org-v1-captain",
    mutating = false,
    failure_policy = "fail",
    side_effects = "None",
    groups = ["crew.testproject.org"],
    resources = ["captains"],
    verbs = ["create", "update"],
    versions = ["v1"],
    name = "vcaptain-v1.kb.io",
    admission_review_versions = ["v1"]
)]
impl webhook::Validator<Captain> for CaptainCustomValidator {
    async fn validate_create(
        &self,
        obj: &Captain,
    ) -> Result<webhook::Warnings, webhook::AdmissionError> {
        tracing::info!(name = ?obj.metadata.name, "validating the creation of Captain");
        validate_captain(obj)
    }

    async fn validate_update(
        &self,
        _old: &Captain,
        new: &Captain,
    ) -> Result<webhook::Warnings, webhook::AdmissionError> {
        tracing::info!(name = ?new.metadata.name, "validating the update of Captain");
        // TODO(user): compare with `_old` to refuse changes to fields that must not change.
        validate_captain(new)
    }

    async fn validate_delete(
        &self,
        obj: &Captain,
    ) -> Result<webhook::Warnings, webhook::AdmissionError> {
        tracing::info!(name = ?obj.metadata.name, "validating the deletion of Captain");
        // TODO(user): fill in your validation logic for deletion.
        Ok(Vec::new())
    }
}

/// The checks of a created or updated Captain: `Ok` with warnings admits it, `Err` denies it.
fn validate_captain(obj: &Captain) -> Result<webhook::Warnings, webhook::AdmissionError> {
    // TODO(user): fill in your validation logic. An example: `foo`, when set, is not empty.
    if obj.spec.foo.as_deref() == Some("") {
        return Err(webhook::AdmissionError::invalid(
            "spec.foo",
            "spec.foo must not be empty",
        ));
    }
    Ok(Vec::new())
}

// +kubesmith:scaffold:webhookimpls
