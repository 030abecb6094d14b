//! TLS for the HTTPS servers a manager runs (metrics, webhooks): serving certificates read
//! from files and read again when they change (as controller-runtime's certwatcher, so
//! cert-manager rotations need no restart), self-signed certificates for local runs, and the
//! rustls configuration both servers use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// Where a server's certificate files are, and which flags name them (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The server, in logs: "metrics server", "webhook server".
    pub server: &'static str,
    /// The flags' common prefix: "--metrics" gives `--metrics-cert-path` and so on.
    pub flags: &'static str,
}

/// A certificate and key read from files, and read again whenever their contents change.
/// Files caught mid-rotation (a new certificate with the old key) keep the previous pair in use.
#[derive(Debug)]
pub(crate) struct CertFiles {
    paths: CertPaths,
    provider: Arc<CryptoProvider>,
    current: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    certified: Arc<CertifiedKey>,
}

impl CertFiles {
    /// Reads the pair now: a missing or unusable file is an error naming it and its flags.
    pub(crate) fn load(paths: CertPaths, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let (cert_pem, key_pem) = read_pair(&paths)?;
        let certified = parse(&paths, &cert_pem, &key_pem, &provider)?;
        Ok(Self {
            paths,
            provider,
            current: Mutex::new(Loaded {
                cert_pem,
                key_pem,
                certified: Arc::new(certified),
            }),
        })
    }

    /// The certificate file.
    pub(crate) fn cert_path(&self) -> &Path {
        &self.paths.cert
    }

    /// The PEM of the certificate in use.
    pub(crate) fn cert_pem(&self) -> Vec<u8> {
        lock(&self.current).cert_pem.clone()
    }

    /// The pair in use, first read again if the files changed.
    pub(crate) fn current(&self) -> Arc<CertifiedKey> {
        let mut current = lock(&self.current);
        // Comparing contents, not modification times: a rotation within the file system's
        // timestamp granularity, or a kubelet symlink swap, is still seen.
        if let Ok((cert_pem, key_pem)) = read_pair(&self.paths)
            && (cert_pem != current.cert_pem || key_pem != current.key_pem)
        {
            match parse(&self.paths, &cert_pem, &key_pem, &self.provider) {
                Ok(certified) => {
                    tracing::info!(cert = %self.paths.cert.display(), "{}: reloaded the certificate", self.paths.server);
                    *current = Loaded {
                        cert_pem,
                        key_pem,
                        certified: Arc::new(certified),
                    };
                }
                Err(err) => {
                    tracing::warn!(error = %err, "{}: keeping the previous certificate", self.paths.server);
                }
            }
        }
        Arc::clone(&current.certified)
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A certificate made at start, and its PEM forms (to trust it, or to write it down).
pub(crate) struct SelfSigned {
    pub certified: CertifiedKey,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A self-signed certificate for `localhost`, the loopback addresses and this host, as
/// controller-runtime makes when no certificate is configured.
pub(crate) fn self_signed(provider: &CryptoProvider) -> Result<SelfSigned, String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = hostname::get().ok().and_then(|h| h.into_string().ok())
        && !host.is_empty()
    {
        names.push(host);
    }
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|err| format!("cannot make a self-signed certificate: {err}"))?;
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    let certified = CertifiedKey::from_der(vec![made.cert.der().clone()], key.into(), provider)
        .map_err(|err| format!("unusable self-signed certificate: {err}"))?;
    Ok(SelfSigned {
        certified,
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
    })
}

/// The rustls configuration serving `certs`; HTTP/2 only with `http2` (what Go's net/http
/// offers, less "h2": kubebuilder turns it off for the Rapid Reset and Stream Cancellation
/// CVEs, and controller-runtime drops it from NextProtos the same way).
pub(crate) fn server_config(
    certs: Arc<dyn ResolvesServerCert>,
    provider: Arc<CryptoProvider>,
    http2: bool,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

fn read_pair(paths: &CertPaths) -> Result<(Vec<u8>, Vec<u8>), String> {
    let flags = paths.flags;
    let read = |path: &Path, flag: &str| {
        std::fs::read(path).map_err(|err| {
            format!(
                "cannot read {} ({flags}-cert-path/{flags}-cert-{flag}): {err}",
                path.display()
            )
        })
    };
    Ok((read(&paths.cert, "name")?, read(&paths.key, "key")?))
}

fn parse(
    paths: &CertPaths,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let (cert_path, key_path) = (paths.cert.display(), paths.key.display());
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{cert_path} is not a PEM certificate: {err}"))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {cert_path}"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|err| format!("{key_path} is not a PEM private key: {err}"))?;
    CertifiedKey::from_der(certs, key, provider)
        .map_err(|err| format!("unusable certificate {cert_path} or key {key_path}: {err}"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The rustls crypto provider of every TLS server in the runtime: *ring*.
///
/// rustls 0.23.48 deprecated its *ring* provider (no post-quantum key exchange) in favour of
/// aws-lc-rs, which needs cmake and a C compiler to build; *ring* keeps an operator project
/// building with cargo alone, and the lock files that resolve rustls 0.23.48 or later would
/// otherwise warn in every build of the runtime.
#[allow(deprecated)]
pub(crate) fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        crypto_provider()
    }

    fn write_pair(dir: &Path) -> Vec<u8> {
        let made = self_signed(&provider()).unwrap();
        std::fs::write(dir.join("tls.crt"), &made.cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), &made.key_pem).unwrap();
        made.certified.cert[0].to_vec()
    }

    fn paths(dir: &Path) -> CertPaths {
        CertPaths {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            server: "test server",
            flags: "--test",
        }
    }

    #[test]
    fn files_are_read_again_when_they_change_and_kept_when_broken() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_pair(dir.path());
        let files = CertFiles::load(paths(dir.path()), provider()).unwrap();
        assert_eq!(files.current().cert[0].as_ref(), first.as_slice());
        let second = write_pair(dir.path());
        assert_eq!(files.current().cert[0].as_ref(), second.as_slice());
        std::fs::write(dir.path().join("tls.key"), "garbage").unwrap();
        assert_eq!(files.current().cert[0].as_ref(), second.as_slice());
    }

    #[test]
    fn missing_and_broken_files_are_named_with_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        let err = CertFiles::load(paths(dir.path()), provider()).unwrap_err();
        assert!(
            err.contains("tls.crt") && err.contains("--test-cert-path/--test-cert-name"),
            "{err}"
        );
        std::fs::write(dir.path().join("tls.crt"), "").unwrap();
        std::fs::write(dir.path().join("tls.key"), "").unwrap();
        let err = CertFiles::load(paths(dir.path()), provider()).unwrap_err();
        assert!(err.starts_with("no PEM certificate in"), "{err}");
    }

    #[test]
    fn http2_is_offered_only_when_asked() {
        let made = Arc::new(rustls::sign::SingleCertAndKey::from(
            self_signed(&provider()).unwrap().certified,
        ));
        let h1 = server_config(made.clone(), provider(), false).unwrap();
        assert_eq!(h1.alpn_protocols, [b"http/1.1".to_vec()]);
        let h2 = server_config(made, provider(), true).unwrap();
        assert_eq!(h2.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    }
}
