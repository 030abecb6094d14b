//! `/healthz` and `/readyz` with controller-runtime's response format (pkg/healthz).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::cache::Cache;

/// Which probe a check belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Healthz,
    Readyz,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Readyz => "readyz",
        }
    }

    /// Checks every probe of this endpoint has, before the user's.
    fn builtin(self) -> &'static [&'static str] {
        match self {
            Endpoint::Healthz => &["ping"],
            Endpoint::Readyz => &["ping", "informer-sync"],
        }
    }
}

type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The user's checks, shared between the manager (which adds them) and the probe server.
#[derive(Clone, Default)]
pub(super) struct Checks {
    inner: Arc<Mutex<ChecksInner>>,
}

#[derive(Default)]
struct ChecksInner {
    healthz: Vec<(String, Check)>,
    readyz: Vec<(String, Check)>,
}

impl ChecksInner {
    fn of(&self, endpoint: Endpoint) -> &Vec<(String, Check)> {
        match endpoint {
            Endpoint::Healthz => &self.healthz,
            Endpoint::Readyz => &self.readyz,
        }
    }
}

impl Checks {
    pub(super) fn add<E: std::fmt::Display>(
        &self,
        endpoint: Endpoint,
        name: String,
        check: impl Fn() -> Result<(), E> + Send + Sync + 'static,
    ) -> Result<(), Error> {
        let invalid = |reason: String| Error::InvalidCheck {
            endpoint: endpoint.name(),
            name: name.clone(),
            reason,
        };
        // The name is a path segment (`/healthz/<name>`) and a `?exclude=` value.
        if name.is_empty()
            || name.contains(['/', '?', '&', '=', '#'])
            || name.contains(char::is_whitespace)
        {
            return Err(invalid(
                "a check name must be non-empty and free of '/', '?', '&', '=', '#' and spaces"
                    .into(),
            ));
        }
        let mut inner = super::lock(&self.inner);
        if endpoint.builtin().contains(&name.as_str())
            || inner.of(endpoint).iter().any(|(n, _)| *n == name)
        {
            return Err(invalid(format!(
                "a {} check of this name exists already",
                endpoint.name()
            )));
        }
        let check: Check = Arc::new(move || check().map_err(|err| err.to_string()));
        match endpoint {
            Endpoint::Healthz => inner.healthz.push((name, check)),
            Endpoint::Readyz => inner.readyz.push((name, check)),
        }
        Ok(())
    }
}

/// What the probe handlers read.
#[derive(Clone)]
pub(super) struct ProbeState {
    pub(super) cache: Cache,
    pub(super) checks: Checks,
}

impl ProbeState {
    /// Runs every check of `endpoint`, in order: built-ins first, then the user's.
    fn run(&self, endpoint: Endpoint) -> Vec<(String, Result<(), String>)> {
        let mut results = vec![("ping".to_owned(), Ok(()))];
        if endpoint == Endpoint::Readyz {
            let synced = if self.cache.has_synced() {
                Ok(())
            } else {
                Err("informers have not synced yet".to_owned())
            };
            results.push(("informer-sync".to_owned(), synced));
        }
        // Cloned out so a slow check does not hold the lock against `add_*_check`.
        let checks = super::lock(&self.checks.inner).of(endpoint).clone();
        for (name, check) in checks {
            results.push((name, check()));
        }
        results
    }
}

/// Binds `addr` (so a bad address fails the manager's start) and serves the probes until `stop`.
pub(super) async fn serve(
    addr: SocketAddr,
    state: ProbeState,
    stop: CancellationToken,
) -> Result<JoinHandle<std::io::Result<()>>, Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::ProbeBind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(address = %bound, "serving health probes");
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/healthz/{check}", get(healthz_one))
        .route("/readyz/{check}", get(readyz_one))
        .with_state(state);
    Ok(tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    }))
}

async fn healthz(
    State(state): State<ProbeState>,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    report("healthz", &state.run(Endpoint::Healthz), query.as_deref())
}

async fn readyz(
    State(state): State<ProbeState>,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    report("readyz", &state.run(Endpoint::Readyz), query.as_deref())
}

async fn healthz_one(
    State(state): State<ProbeState>,
    Path(check): Path<String>,
) -> (StatusCode, String) {
    single(&state.run(Endpoint::Healthz), &check)
}

async fn readyz_one(
    State(state): State<ProbeState>,
    Path(check): Path<String>,
) -> (StatusCode, String) {
    single(&state.run(Endpoint::Readyz), &check)
}

/// One check alone, as controller-runtime's per-check handler: `ok`, or 500 with the reason.
fn single(results: &[(String, Result<(), String>)], name: &str) -> (StatusCode, String) {
    match results.iter().find(|(n, _)| n == name) {
        None => (StatusCode::NOT_FOUND, "404 page not found\n".to_owned()),
        Some((_, Ok(()))) => (StatusCode::OK, "ok".to_owned()),
        Some((_, Err(reason))) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error: {reason}\n"),
        ),
    }
}

/// Renders check results as controller-runtime does: `ok` when all pass (per-check lines with
/// `?verbose`), otherwise 500 with every check listed and failures' reasons withheld.
fn report(
    endpoint: &str,
    results: &[(String, Result<(), String>)],
    query: Option<&str>,
) -> (StatusCode, String) {
    let mut verbose = false;
    let mut excluded: Vec<&str> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("exclude", name) => excluded.push(name),
            ("verbose", _) => verbose = true,
            _ => {}
        }
    }
    let mut failed = false;
    let mut lines = String::new();
    for (name, result) in results {
        if excluded.contains(&name.as_str()) {
            lines.push_str(&format!("[+]{name} excluded: ok\n"));
        } else if result.is_ok() {
            lines.push_str(&format!("[+]{name} ok\n"));
        } else {
            failed = true;
            lines.push_str(&format!("[-]{name} failed: reason withheld\n"));
        }
    }
    if failed {
        lines.push_str(&format!("{endpoint} check failed\n"));
        return (StatusCode::INTERNAL_SERVER_ERROR, lines);
    }
    if verbose {
        lines.push_str(&format!("{endpoint} check passed\n"));
        return (StatusCode::OK, lines);
    }
    (StatusCode::OK, "ok".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(checks: &[(&str, bool)]) -> Vec<(String, Result<(), String>)> {
        checks
            .iter()
            .map(|(n, ok)| {
                let r = if *ok {
                    Ok(())
                } else {
                    Err("broken".to_owned())
                };
                ((*n).to_owned(), r)
            })
            .collect()
    }

    #[test]
    fn all_passing_is_ok() {
        assert_eq!(
            report("readyz", &results(&[("ping", true)]), None),
            (StatusCode::OK, "ok".into())
        );
    }

    #[test]
    fn verbose_lists_checks() {
        let (code, body) = report("healthz", &results(&[("ping", true)]), Some("verbose"));
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, "[+]ping ok\nhealthz check passed\n");
    }

    #[test]
    fn failure_is_500_with_reason_withheld() {
        let (code, body) = report(
            "readyz",
            &results(&[("ping", true), ("informer-sync", false)]),
            None,
        );
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            "[+]ping ok\n[-]informer-sync failed: reason withheld\nreadyz check failed\n"
        );
    }

    #[test]
    fn excluded_check_does_not_fail() {
        let (code, body) = report(
            "readyz",
            &results(&[("informer-sync", false)]),
            Some("exclude=informer-sync&verbose"),
        );
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, "[+]informer-sync excluded: ok\nreadyz check passed\n");
    }

    #[test]
    fn single_check_shows_its_reason() {
        let r = results(&[("ping", true), ("db", false)]);
        assert_eq!(single(&r, "ping"), (StatusCode::OK, "ok".into()));
        assert_eq!(
            single(&r, "db"),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error: broken\n".into()
            )
        );
        assert_eq!(single(&r, "nope").0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn check_names_are_validated_and_unique() {
        let checks = Checks::default();
        checks
            .add(Endpoint::Readyz, "db".into(), || Ok::<(), String>(()))
            .unwrap();
        assert!(
            checks
                .add(Endpoint::Readyz, "db".into(), || Ok::<(), String>(()))
                .is_err()
        );
        assert!(
            checks
                .add(Endpoint::Healthz, "db".into(), || Ok::<(), String>(()))
                .is_ok()
        );
        assert!(
            checks
                .add(
                    Endpoint::Readyz,
                    "informer-sync".into(),
                    || Ok::<(), String>(())
                )
                .is_err()
        );
        assert!(
            checks
                .add(Endpoint::Healthz, "a/b".into(), || Ok::<(), String>(()))
                .is_err()
        );
    }
}
