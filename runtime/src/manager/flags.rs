use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use super::Options;
use crate::Error;

/// Command-line flags of a generated operator's `main.rs`, named as kubebuilder's.
///
/// ```
/// use clap::Parser;
/// use kubesmith_runtime::manager::Flags;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     flags: Flags,
/// }
///
/// let cli = Cli::parse_from(["operator", "--health-probe-bind-address", "127.0.0.1:9440"]);
/// let options = cli.flags.options().unwrap();
/// assert_eq!(options.health_probe_bind_address, Some("127.0.0.1:9440".parse().unwrap()));
///
/// let cli = Cli::parse_from(["operator"]);
/// assert_eq!(cli.flags.options().unwrap().health_probe_bind_address, Some("0.0.0.0:8081".parse().unwrap()));
///
/// let cli = Cli::parse_from(["operator", "--health-probe-bind-address", "0"]);
/// assert_eq!(cli.flags.options().unwrap().health_probe_bind_address, None);
///
/// // Go-style booleans: `--leader-elect` alone means true, `--metrics-secure=false` turns one off
/// let cli = Cli::parse_from(["operator", "--leader-elect", "--metrics-bind-address=:8443",
///                            "--metrics-secure=false", "--graceful-shutdown-timeout=1m30s"]);
/// let options = cli.flags.options().unwrap();
/// assert!(options.leader_election && !options.metrics_secure);
/// assert_eq!(options.metrics_bind_address, Some("0.0.0.0:8443".parse().unwrap()));
/// assert_eq!(options.graceful_shutdown_timeout, std::time::Duration::from_secs(90));
///
/// // Webhooks: kubebuilder's certificate flags; ENABLE_WEBHOOKS=false (or --enable-webhooks=false) skips serving
/// let cli = Cli::parse_from(["operator", "--webhook-cert-path=/tmp/k8s-webhook-server/serving-certs",
///                            "--webhook-cert-name=cert.pem", "--webhook-port=0", "--enable-webhooks=false"]);
/// let options = cli.flags.options().unwrap();
/// assert_eq!(options.webhook_cert_path, Some("/tmp/k8s-webhook-server/serving-certs".into()));
/// assert_eq!((options.webhook_cert_name.as_str(), options.webhook_cert_key.as_str()), ("cert.pem", "tls.key"));
/// assert_eq!(options.webhook_port, 0);
/// assert!(!options.enable_webhooks);
/// # if std::env::var_os("ENABLE_WEBHOOKS").is_none() {
/// let options = Cli::parse_from(["operator"]).flags.options().unwrap();
/// assert!(options.enable_webhooks && options.webhook_cert_path.is_none());
/// assert_eq!(options.webhook_port, 9443);
/// # }
/// ```
#[derive(Clone, Debug, clap::Args)]
pub struct Flags {
    /// The address the probe endpoint binds to, as HOST:PORT or :PORT (":8081" = all interfaces;
    /// "0" or "" disables the probes).
    #[arg(long, default_value = ":8081", value_name = "ADDRESS")]
    pub health_probe_bind_address: String,

    /// The address the metrics endpoint binds to, as HOST:PORT or :PORT (":8443" for HTTPS,
    /// ":8080" for HTTP); "0" (the default) disables the metrics service.
    #[arg(long, default_value = "0", value_name = "ADDRESS")]
    pub metrics_bind_address: String,

    /// Serve metrics over HTTPS with authentication and authorization (TokenReview and
    /// SubjectAccessReview); --metrics-secure=false serves plain HTTP.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub metrics_secure: bool,

    /// Directory that contains the metrics server certificate; empty uses a self-signed one.
    #[arg(long, default_value = "", value_name = "DIR")]
    pub metrics_cert_path: String,

    /// The name of the metrics server certificate file.
    #[arg(long, default_value = "tls.crt", value_name = "FILE")]
    pub metrics_cert_name: String,

    /// The name of the metrics server key file.
    #[arg(long, default_value = "tls.key", value_name = "FILE")]
    pub metrics_cert_key: String,

    /// Enable HTTP/2 for the metrics server (off by default: HTTP/2 Stream Cancellation and
    /// Rapid Reset CVEs).
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub enable_http2: bool,

    /// Directory that contains the webhook server certificate; empty uses
    /// $TMPDIR/k8s-webhook-server/serving-certs if the files are there, else a self-signed one.
    #[arg(long, default_value = "", value_name = "DIR")]
    pub webhook_cert_path: String,

    /// The name of the webhook server certificate file.
    #[arg(long, default_value = "tls.crt", value_name = "FILE")]
    pub webhook_cert_name: String,

    /// The name of the webhook server key file.
    #[arg(long, default_value = "tls.key", value_name = "FILE")]
    pub webhook_cert_key: String,

    /// The port the webhook server listens on (0 lets the system choose).
    #[arg(long, default_value_t = 9443, value_name = "PORT")]
    pub webhook_port: u16,

    /// Serve the registered webhooks; ENABLE_WEBHOOKS=false turns them off for local runs
    /// without certificates, as in kubebuilder's main.go.
    #[arg(long, env = "ENABLE_WEBHOOKS", default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL")]
    pub enable_webhooks: bool,

    /// Enable leader election: only the replica holding the Lease runs controllers.
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub leader_elect: bool,

    /// Name of the leader election Lease (default: the operator's `<project>-leader`).
    #[arg(long, value_name = "NAME")]
    pub leader_election_id: Option<String>,

    /// Namespace of the leader election Lease (default: $POD_NAMESPACE, else the pod's
    /// service account namespace, else "default").
    #[arg(long, value_name = "NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// How long in-flight reconciles may take to finish on SIGTERM, as a Go duration
    /// ("8s", "1m30s"); keep it below the pod's terminationGracePeriodSeconds.
    #[arg(long, default_value = "8s", value_parser = parse_duration, value_name = "DURATION")]
    pub graceful_shutdown_timeout: Duration,

    /// Log filter: a level (error, warn, info, debug, trace) or a tracing directive list such
    /// as "info,kube=debug". RUST_LOG, when set, takes precedence.
    #[arg(long, default_value = "info", value_parser = parse_log_level, value_name = "LEVEL")]
    pub log_level: String,

    /// Log output format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log output format of [`Flags::init_logging`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    Text,
}

impl Flags {
    /// The manager [`Options`] these flags ask for; an invalid address is an error naming the
    /// flag and the value.
    pub fn options(&self) -> Result<Options, Error> {
        let address = parse_bind_address(&self.health_probe_bind_address).map_err(|reason| {
            Error::InvalidFlag {
                flag: "health-probe-bind-address",
                value: self.health_probe_bind_address.clone(),
                reason,
            }
        })?;
        let metrics_address = parse_bind_address(&self.metrics_bind_address).map_err(|reason| {
            Error::InvalidFlag {
                flag: "metrics-bind-address",
                value: self.metrics_bind_address.clone(),
                reason,
            }
        })?;
        let non_empty = |value: &Option<String>, flag: &'static str| match value {
            Some(v) if v.trim().is_empty() => Err(Error::InvalidFlag {
                flag,
                value: v.clone(),
                reason: "must not be empty".into(),
            }),
            other => Ok(other.clone()),
        };
        Ok(Options {
            health_probe_bind_address: address,
            metrics_bind_address: metrics_address,
            metrics_secure: self.metrics_secure,
            metrics_cert_path: Some(self.metrics_cert_path.trim())
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            metrics_cert_name: self.metrics_cert_name.clone(),
            metrics_cert_key: self.metrics_cert_key.clone(),
            enable_http2: self.enable_http2,
            graceful_shutdown_timeout: self.graceful_shutdown_timeout,
            enable_webhooks: self.enable_webhooks,
            webhook_port: self.webhook_port,
            webhook_cert_path: Some(self.webhook_cert_path.trim())
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            webhook_cert_name: self.webhook_cert_name.clone(),
            webhook_cert_key: self.webhook_cert_key.clone(),
            leader_election: self.leader_elect,
            watch_namespace: watch_namespace()?,
            leader_election_id: non_empty(&self.leader_election_id, "leader-election-id")?,
            leader_election_namespace: non_empty(
                &self.leader_election_namespace,
                "leader-election-namespace",
            )?,
            ..Options::default()
        })
    }

    /// Installs a global tracing subscriber with the requested filter and format. Does
    /// nothing if one is already installed (e.g. by a test harness).
    pub fn init_logging(&self) {
        let filter = std::env::var("RUST_LOG")
            .ok()
            .and_then(|directives| EnvFilter::try_new(directives).ok())
            .or_else(|| EnvFilter::try_new(&self.log_level).ok())
            .unwrap_or_else(|| EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let _ = match self.log_format {
            LogFormat::Json => builder.json().try_init(),
            LogFormat::Text => builder.try_init(),
        };
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

fn parse_log_level(value: &str) -> Result<String, String> {
    const EXPECTED: &str =
        "expected off, error, warn, info, debug, trace or directives like info,kube=debug";
    // A bare word would parse as a tracing *target* ("verbose" = everything from target
    // "verbose"), which is never what was meant; only level names stand alone.
    let is_directive_list = value.contains(['=', ',', ':', '[']);
    if !is_directive_list && !LEVELS.contains(&value.to_ascii_lowercase().as_str()) {
        return Err(format!("unknown log level {value:?}; {EXPECTED}"));
    }
    EnvFilter::try_new(value)
        .map(|_| value.to_owned())
        .map_err(|err| format!("{err}; {EXPECTED}"))
}

/// `$WATCH_NAMESPACE`, as kubebuilder's namespaced scaffold reads it: unset or empty watches
/// all namespaces.
fn watch_namespace() -> Result<Option<String>, Error> {
    let Ok(value) = std::env::var("WATCH_NAMESPACE") else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.contains(',') {
        return Err(Error::InvalidEnv {
            name: "WATCH_NAMESPACE",
            value: value.to_owned(),
            reason: "exactly one namespace is supported".into(),
        });
    }
    Ok(Some(value.to_owned()))
}

/// Parses a Go duration such as `8s`, `500ms`, `1m30s` or `1h` (units h, m, s, ms, us, µs, ns).
fn parse_duration(value: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected a duration such as 8s, 500ms or 1m30s";
    let value = value.trim();
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = value;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(EXPECTED.to_owned());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in {value:?}; {EXPECTED}"))?;
        let (number, tail) = rest.split_at(digits);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("invalid number in {value:?}; {EXPECTED}"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(format!("unknown unit {unit:?} in {value:?}; {EXPECTED}")),
        };
        total += Duration::try_from_secs_f64(number * seconds)
            .map_err(|_| format!("{value:?} is out of range; {EXPECTED}"))?;
        rest = tail;
    }
    Ok(total)
}

/// Parses Go's `[host]:port` notation: `:8081` listens on all interfaces, `0` or empty is off.
fn parse_bind_address(value: &str) -> Result<Option<SocketAddr>, String> {
    let value = value.trim();
    if value.is_empty() || value == "0" {
        return Ok(None);
    }
    const EXPECTED: &str = "expected [host]:port such as :8081 or 127.0.0.1:8081, or 0 to disable";
    if let Some(port) = value.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port {port:?}; {EXPECTED}"))?;
        return Ok(Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))));
    }
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(Some(addr));
    }
    if let Some(port) = value.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port {port:?}; {EXPECTED}"))?;
        return Ok(Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))));
    }
    Err(EXPECTED.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses() {
        assert_eq!(
            parse_bind_address(":8081"),
            Ok(Some("0.0.0.0:8081".parse().unwrap()))
        );
        assert_eq!(parse_bind_address("0"), Ok(None));
        assert_eq!(parse_bind_address(""), Ok(None));
        assert_eq!(
            parse_bind_address("localhost:9"),
            Ok(Some("127.0.0.1:9".parse().unwrap()))
        );
        assert_eq!(
            parse_bind_address("[::1]:80"),
            Ok(Some("[::1]:80".parse().unwrap()))
        );
        assert!(parse_bind_address(":http").is_err());
        assert!(parse_bind_address("8081").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("8s"), Ok(Duration::from_secs(8)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("8").unwrap_err().contains("missing unit"));
        assert!(parse_duration("8d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn log_levels() {
        assert!(parse_log_level("debug").is_ok());
        assert!(parse_log_level("INFO").is_ok());
        assert!(parse_log_level("info,kube=debug").is_ok());
        assert!(
            parse_log_level("verbose")
                .unwrap_err()
                .contains("\"verbose\"")
        );
    }

    #[test]
    fn invalid_flag_names_flag_and_value() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            flags: Flags,
        }
        let flags = Cli::parse_from(["op", "--health-probe-bind-address", "nope"]).flags;
        let err = flags.options().unwrap_err().to_string();
        assert!(err.contains("--health-probe-bind-address"), "{err}");
        assert!(err.contains("\"nope\""), "{err}");
    }
}
