//! Conversion of Captain v2 (a spoke) to and from v1, the hub
//! (controller-runtime's `conversion.Convertible`). The API server calls the manager's
//! `/convert` webhook whenever a client asks for a version other than the stored one.

use kubesmith_runtime::webhook::{ConversionError, Convertible};

use super::Captain;
use crate::api::crew::v1 as hub;

// EDIT THIS FILE! Map every field that differs between the versions; a field that exists in
// only one version must be kept somewhere (e.g. an annotation) or a round trip loses it.

impl Convertible<hub::Captain> for Captain {
    fn convert_to(&self) -> Result<hub::Captain, ConversionError> {
        // TODO(user): convert the spec and status fields of v2 to v1.
        let mut hub = hub::Captain::new(
            self.metadata.name.as_deref().unwrap_or_default(),
            hub::CaptainSpec {
                foo: self.spec.foo.clone(),
            },
        );
        hub.metadata = self.metadata.clone();
        hub.status = self.status.as_ref().map(|status| hub::CaptainStatus {
            conditions: status.conditions.clone(),
        });
        Ok(hub)
    }

    fn convert_from(hub: &hub::Captain) -> Result<Self, ConversionError> {
        // TODO(user): convert the spec and status fields of v1 to v2.
        let mut spoke = Captain::new(
            hub.metadata.name.as_deref().unwrap_or_default(),
            super::CaptainSpec {
                foo: hub.spec.foo.clone(),
            },
        );
        spoke.metadata = hub.metadata.clone();
        spoke.status = hub.status.as_ref().map(|status| super::CaptainStatus {
            conditions: status.conditions.clone(),
        });
        Ok(spoke)
    }
}
