//! `/healthz` and `/readyz` with controller-runtime's response format (pkg/healthz).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::cache::Cache;

/// Binds `addr` (so a bad address fails the manager's start) and serves the probes until `stop`.
pub(super) async fn serve(
    addr: SocketAddr,
    cache: Cache,
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
        .with_state(cache);
    Ok(tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    }))
}

async fn healthz(RawQuery(query): RawQuery) -> (StatusCode, String) {
    report("healthz", &[("ping", true)], query.as_deref())
}

async fn readyz(State(cache): State<Cache>, RawQuery(query): RawQuery) -> (StatusCode, String) {
    report(
        "readyz",
        &[("ping", true), ("informer-sync", cache.has_synced())],
        query.as_deref(),
    )
}

/// Renders check results as controller-runtime does: `ok` when all pass (per-check lines with
/// `?verbose`), otherwise 500 with every check listed and failures' reasons withheld.
fn report(endpoint: &str, checks: &[(&str, bool)], query: Option<&str>) -> (StatusCode, String) {
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
    for (name, ok) in checks {
        if excluded.contains(name) {
            lines.push_str(&format!("[+]{name} excluded: ok\n"));
        } else if *ok {
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

    #[test]
    fn all_passing_is_ok() {
        assert_eq!(
            report("readyz", &[("ping", true)], None),
            (StatusCode::OK, "ok".into())
        );
    }

    #[test]
    fn verbose_lists_checks() {
        let (code, body) = report("healthz", &[("ping", true)], Some("verbose"));
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, "[+]ping ok\nhealthz check passed\n");
    }

    #[test]
    fn failure_is_500_with_reason_withheld() {
        let (code, body) = report("readyz", &[("ping", true), ("informer-sync", false)], None);
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
            &[("informer-sync", false)],
            Some("exclude=informer-sync&verbose"),
        );
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, "[+]informer-sync excluded: ok\nreadyz check passed\n");
    }
}
