//! The webhook server's serving certificate: from files (read again when they change, as
//! controller-runtime's certwatcher, so cert-manager rotations need no restart), or
//! self-signed for local runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::tls::{self, CertFiles, CertPaths};
use crate::{Error, Options};

/// controller-runtime's default certificate directory, used when no path is configured and
/// both files are there.
pub(crate) fn default_cert_dir() -> PathBuf {
    std::env::temp_dir()
        .join("k8s-webhook-server")
        .join("serving-certs")
}

/// Where the serving certificate comes from.
#[derive(Debug)]
pub(crate) enum ServingCert {
    /// Made at start for `localhost`, the loopback addresses and this host.
    SelfSigned {
        certified: Arc<CertifiedKey>,
        pem: Vec<u8>,
    },
    /// Read from files, again whenever their contents change.
    Files(Files),
}

/// The serving certificate's files, and the `ca.crt` beside them that clients should trust.
#[derive(Debug)]
pub(crate) struct Files {
    certs: CertFiles,
    ca: PathBuf,
}

impl ServingCert {
    /// The certificate `options` ask for: `webhook_cert_path`, else the default directory if
    /// it holds both files, else a self-signed one.
    pub(crate) fn from_options(
        options: &Options,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, Error> {
        Self::from_dirs(options, &default_cert_dir(), provider)
    }

    /// As [`from_options`](Self::from_options), with `default_dir` for controller-runtime's
    /// default directory.
    fn from_dirs(
        options: &Options,
        default_dir: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, Error> {
        let (cert_name, key_name) = (&options.webhook_cert_name, &options.webhook_cert_key);
        if let Some(dir) = &options.webhook_cert_path {
            return Ok(Self::Files(Files::load(
                dir, cert_name, key_name, provider,
            )?));
        }
        let present = default_dir.join(cert_name).is_file() && default_dir.join(key_name).is_file();
        if present {
            match Files::load(default_dir, cert_name, key_name, Arc::clone(&provider)) {
                Ok(files) => return Ok(Self::Files(files)),
                // Nobody asked for these files (another local run may be writing them right
                // now): serve a certificate of our own rather than fail.
                Err(err) => {
                    tracing::warn!(error = %err, "webhook server: using a self-signed certificate instead");
                    return Self::self_signed(&provider, None);
                }
            }
        }
        Self::self_signed(&provider, Some((default_dir, cert_name, key_name)))
    }

    /// A self-signed certificate, also written to `persist` (directory, certificate and key
    /// file names) if neither file is there yet, so that other processes of a local run (such
    /// as `kubesmith envtest serve --webhooks`) can trust it, and the next run serves the same.
    fn self_signed(
        provider: &CryptoProvider,
        persist: Option<(&Path, &str, &str)>,
    ) -> Result<Self, Error> {
        let made = tls::self_signed(provider).map_err(Error::WebhookTls)?;
        if let Some((dir, cert_name, key_name)) = persist {
            match write_new_pair(dir, cert_name, &made.cert_pem, key_name, &made.key_pem) {
                Ok(true) => {
                    tracing::info!(dir = %dir.display(), "webhook server: wrote its self-signed certificate for local runs");
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::debug!(dir = %dir.display(), error = %err, "webhook server: self-signed certificate not written");
                }
            }
        }
        Ok(Self::SelfSigned {
            certified: Arc::new(made.certified),
            pem: made.cert_pem.into_bytes(),
        })
    }

    /// The PEM a client should trust: the self-signed certificate, or `ca.crt` next to the
    /// serving certificate if present, else the serving certificate itself.
    pub(crate) fn ca_bundle(&self) -> Vec<u8> {
        match self {
            Self::SelfSigned { pem, .. } => pem.clone(),
            Self::Files(files) => std::fs::read(&files.ca)
                .or_else(|_| std::fs::read(files.certs.cert_path()))
                .unwrap_or_else(|_| files.certs.cert_pem()),
        }
    }
}

impl Files {
    fn load(
        dir: &Path,
        cert_name: &str,
        key_name: &str,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, Error> {
        let paths = CertPaths {
            cert: dir.join(cert_name),
            key: dir.join(key_name),
            server: "webhook server",
            flags: "--webhook",
        };
        Ok(Self {
            certs: CertFiles::load(paths, provider).map_err(Error::WebhookTls)?,
            ca: dir.join("ca.crt"),
        })
    }

    /// The pair in use, first read again if the files changed.
    fn current(&self) -> Arc<CertifiedKey> {
        self.certs.current()
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self {
            Self::SelfSigned { certified, .. } => Some(Arc::clone(certified)),
            Self::Files(files) => Some(files.current()),
        }
    }
}

/// Writes `key` then `cert` into `dir`, only if neither file exists (another process may be
/// doing the same): `Ok(false)` when they were there. The key is readable by its owner only.
fn write_new_pair(
    dir: &Path,
    cert_name: &str,
    cert: &str,
    key_name: &str,
    key: &str,
) -> std::io::Result<bool> {
    use std::io::Write;
    let (cert_path, key_path) = (dir.join(cert_name), dir.join(key_name));
    if cert_path.exists() || key_path.exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    let create_new = |path: &Path, private: bool| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        options.open(path)
    };
    let mut key_file = match create_new(&key_path, true) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(err) => return Err(err),
    };
    key_file.write_all(key.as_bytes())?;
    let written =
        create_new(&cert_path, false).and_then(|mut file| file.write_all(cert.as_bytes()));
    if let Err(err) = written {
        // Never leave our key next to someone else's certificate.
        let _ = std::fs::remove_file(&key_path);
        return match err.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(false),
            _ => Err(err),
        };
    }
    Ok(true)
}

/// The rustls configuration serving `cert`; HTTP/2 only with `http2` (kubebuilder turns it
/// off for the webhook server too: Rapid Reset and Stream Cancellation CVEs).
pub(crate) fn server_config(
    cert: Arc<ServingCert>,
    provider: Arc<CryptoProvider>,
    http2: bool,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    tls::server_config(cert, provider, http2).map_err(Error::WebhookTls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        crate::tls::crypto_provider()
    }

    fn write_pair(dir: &Path) -> Vec<u8> {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("tls.crt"), made.cert.pem()).unwrap();
        std::fs::write(dir.join("tls.key"), made.signing_key.serialize_pem()).unwrap();
        made.cert.der().to_vec()
    }

    fn options(dir: &Path) -> Options {
        Options {
            webhook_cert_path: Some(dir.to_owned()),
            ..Options::default()
        }
    }

    #[test]
    fn missing_files_are_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = ServingCert::from_options(&options(dir.path()), provider()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tls.crt") && text.contains("--webhook-cert-path"),
            "{text}"
        );
    }

    #[test]
    fn a_self_signed_certificate_is_written_to_the_empty_default_dir_and_reused() {
        let default_dir = tempfile::tempdir().unwrap();
        let dir = default_dir
            .path()
            .join("k8s-webhook-server")
            .join("serving-certs");
        let first = ServingCert::from_dirs(&Options::default(), &dir, provider()).unwrap();
        assert!(matches!(first, ServingCert::SelfSigned { .. }));
        assert_eq!(
            first.ca_bundle(),
            std::fs::read(dir.join("tls.crt")).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("tls.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
        }
        // The next run serves the written pair (and so follows its rotations).
        let second = ServingCert::from_dirs(&Options::default(), &dir, provider()).unwrap();
        assert!(matches!(second, ServingCert::Files(_)));
        assert_eq!(second.ca_bundle(), first.ca_bundle());
    }

    #[test]
    fn a_broken_pair_in_the_default_dir_is_not_fatal_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tls.crt"), "half written").unwrap();
        std::fs::write(dir.path().join("tls.key"), "").unwrap();
        let cert = ServingCert::from_dirs(&Options::default(), dir.path(), provider()).unwrap();
        assert!(matches!(cert, ServingCert::SelfSigned { .. }));
        assert_eq!(
            std::fs::read(dir.path().join("tls.crt")).unwrap(),
            b"half written"
        );
        // An explicit path is another matter: its owner wants to know.
        assert!(ServingCert::from_options(&options(dir.path()), provider()).is_err());
    }

    #[test]
    fn ca_bundle_prefers_ca_crt() {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path());
        let cert = ServingCert::from_options(&options(dir.path()), provider()).unwrap();
        assert_eq!(
            cert.ca_bundle(),
            std::fs::read(dir.path().join("tls.crt")).unwrap()
        );
        std::fs::write(dir.path().join("ca.crt"), "CA").unwrap();
        assert_eq!(cert.ca_bundle(), b"CA");
    }
}
