//! Printing the CRDs of an operator, for `kubesmith generate`.

use std::io::Write;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use crate::Error;

/// Prints `crds` to stdout as one pretty-printed JSON array (what `kubesmith generate` reads
/// from the project's `src/bin/manifests.rs`).
///
/// ```no_run
/// # fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> { vec![] }
/// fn main() -> Result<(), kubesmith_runtime::Error> {
///     kubesmith_runtime::manifests::print_crds(crds())
/// }
/// ```
pub fn print_crds(crds: Vec<CustomResourceDefinition>) -> Result<(), Error> {
    let stdout = std::io::stdout();
    write_crds(stdout.lock(), &crds)
}

/// Writes `crds` as a JSON array followed by a newline to `out`.
pub fn write_crds(mut out: impl Write, crds: &[CustomResourceDefinition]) -> Result<(), Error> {
    serde_json::to_writer_pretty(&mut out, crds).map_err(Error::Serialize)?;
    out.write_all(b"\n").map_err(Error::Io)?;
    out.flush().map_err(Error::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_json_array() {
        let crd = CustomResourceDefinition {
            metadata: kube::core::ObjectMeta {
                name: Some("widgets.example.com".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut out = Vec::new();
        write_crds(&mut out, &[crd]).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed[0]["metadata"]["name"], "widgets.example.com");
        assert_eq!(parsed[0]["kind"], "CustomResourceDefinition");
    }

    #[test]
    fn broken_pipe_is_an_error_not_a_panic() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        assert!(write_crds(Closed, &[]).is_err());
    }
}
