use std::net::{Ipv4Addr, SocketAddr};

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
/// ```
#[derive(Clone, Debug, clap::Args)]
pub struct Flags {
    /// The address the probe endpoint binds to, as HOST:PORT or :PORT (":8081" = all interfaces;
    /// "0" or "" disables the probes).
    #[arg(long, default_value = ":8081", value_name = "ADDRESS")]
    pub health_probe_bind_address: String,

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
        Ok(Options {
            health_probe_bind_address: address,
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
        let flags = Flags {
            health_probe_bind_address: "nope".into(),
            log_level: "info".into(),
            log_format: LogFormat::Text,
        };
        let err = flags.options().unwrap_err().to_string();
        assert!(err.contains("--health-probe-bind-address"), "{err}");
        assert!(err.contains("\"nope\""), "{err}");
    }
}
