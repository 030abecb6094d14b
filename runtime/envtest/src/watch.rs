//! Watch streams (apiserver.md A.5): newline-delimited `{"type","object"}` events over a
//! chunked 200 response, resumable from a resourceVersion via the retained history,
//! with selector transitions, bookmarks, streaming lists and in-stream 410 errors.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::compact::Compact;
use crate::objects::{Cluster, ListQuery, present_owned};
use crate::registry::ResourceType;
use crate::status::ApiError;
use crate::store::{Event, EventType, meta_str, set_rv};
use crate::table::{self, TableOptions};

/// Bookmarks are a hint; the real cacher sends one about every minute. More often keeps
/// resumes cheap and costs nothing here.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// RV unset or "0" (legacy) or `sendInitialEvents=true`: ADDED for every current object first.
    WithInitialEvents,
    /// `sendInitialEvents=false` without an RV: only changes from now.
    Now,
    /// RV=N: only changes after N, from the history.
    After(u64),
}

#[derive(Debug)]
pub(crate) struct WatchRequest {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub query: ListQuery,
    pub start: Start,
    /// `sendInitialEvents=true`: end the initial events with the `k8s.io/initial-events-end` bookmark.
    pub streaming_list: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub view: View,
}

/// How each event's object is shown, as negotiated from the Accept header.
#[derive(Debug)]
pub(crate) enum View {
    Object,
    /// `kubectl get -w`: a one-row Table per event.
    Table(TableOptions),
    /// kube's `metadata_watcher`: `PartialObjectMetadata` of this `meta.k8s.io` apiVersion.
    Metadata(String),
}

impl WatchRequest {
    fn in_namespace(&self, obj: &Compact) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| obj.meta_str("namespace") == ns)
    }

    /// The object as this watcher is shown it, if it sees it at all.
    fn visible(&self, obj: &Compact) -> Option<Value> {
        if !self.in_namespace(obj) {
            return None;
        }
        let shown = present_owned(&self.rt, obj.to_value());
        self.query.matches(&shown).then_some(shown)
    }

    /// Whether this watcher sees `obj`, without presenting it when nothing is selected.
    fn sees(&self, obj: &Compact) -> bool {
        if self.query.selects_all() {
            self.in_namespace(obj)
        } else {
            self.visible(obj).is_some()
        }
    }

    /// An event carrying `obj`, already presented.
    fn render(&self, type_: &str, obj: Value) -> Value {
        let object = match &self.view {
            View::Table(opts) => {
                let rv = meta_str(&obj, "resourceVersion").to_string();
                table::table(
                    &self.rt,
                    std::slice::from_ref(&obj),
                    opts,
                    json!({ "resourceVersion": rv }),
                )
            }
            View::Metadata(api_version) => table::partial_metadata(&obj, api_version),
            View::Object => obj,
        };
        json!({ "type": type_, "object": object })
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if initial_end {
            // client-go decodes the blueprint (an empty list of the kind) to build its result.
            let blueprint = json!({ "kind": self.rt.list_kind, "apiVersion": self.rt.api_version(), "metadata": {}, "items": [] });
            metadata["annotations"] = json!({
                "k8s.io/initial-events-end": "true",
                "kubernetes.io/initial-events-list-blueprint":
                    base64::engine::general_purpose::STANDARD.encode(blueprint.to_string()),
            });
        }
        json!({ "type": "BOOKMARK", "object": { "kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata } })
    }

    /// Turns a store event into what this watcher sees, applying selector transitions.
    fn translate(&self, ev: &Event) -> Option<Value> {
        if ev.key != self.rt.storage_key() {
            return None;
        }
        match ev.type_ {
            EventType::Added => self
                .visible(&ev.object)
                .map(|shown| self.render("ADDED", shown)),
            EventType::Deleted => self
                .visible(&ev.object)
                .map(|shown| self.render("DELETED", shown)),
            EventType::Modified => {
                let was = ev.old.as_deref().is_some_and(|o| self.sees(o));
                match (was, self.visible(&ev.object)) {
                    (true, Some(shown)) => Some(self.render("MODIFIED", shown)),
                    (false, Some(shown)) => Some(self.render("ADDED", shown)),
                    (true, None) => {
                        // The old state, stamped with the revision at which it stopped matching.
                        let mut old = ev.old.as_deref().map(Compact::to_value).unwrap_or_default();
                        set_rv(&mut old, ev.rv);
                        Some(self.render("DELETED", present_owned(&self.rt, old)))
                    }
                    (false, None) => None,
                }
            }
        }
    }
}

fn error_event(e: &ApiError) -> Value {
    json!({ "type": "ERROR", "object": e.to_json() })
}

struct WatchState {
    req: WatchRequest,
    pending: VecDeque<Value>,
    rx: broadcast::Receiver<Arc<Event>>,
    /// Every event up to here has been seen, so a bookmark may carry it.
    cursor: u64,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
    shutdown: CancellationToken,
}

/// Prepares a watch under the cluster lock (snapshot or history replay plus a live
/// subscription, so nothing falls in between) and returns its event stream.
pub(crate) fn open(
    cluster: &Cluster,
    req: WatchRequest,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let rx = cluster.store.subscribe();
    let current = cluster.store.current_rv();
    let mut pending = VecDeque::new();
    let mut done = false;
    match req.start {
        Start::WithInitialEvents => {
            for obj in cluster
                .store
                .list(&req.rt.storage_key(), req.namespace.as_deref())
            {
                let shown = present_owned(&req.rt, obj);
                if req.query.matches(&shown) {
                    pending.push_back(req.render("ADDED", shown));
                }
            }
            if req.streaming_list && req.bookmarks {
                pending.push_back(req.bookmark(current, true));
            }
        }
        Start::Now => {}
        Start::After(rv) if rv < cluster.store.compacted_rv() => {
            pending.push_back(error_event(&ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                cluster.store.compacted_rv()
            ))));
            done = true;
        }
        Start::After(rv) if rv > current => {
            let mut e = ApiError::new(
                504,
                "Timeout",
                format!("Too large resource version: {rv}, current: {current}"),
            );
            e.details = Some(
                json!({ "causes": [{ "reason": "ResourceVersionTooLarge", "message": "Too large resource version" }], "retryAfterSeconds": 1 }),
            );
            pending.push_back(error_event(&e));
            done = true;
        }
        Start::After(rv) => {
            for ev in cluster.store.events_after(&req.rt.storage_key(), rv) {
                pending.extend(req.translate(&ev));
            }
        }
    }
    let now = Instant::now();
    let state = WatchState {
        deadline: now + req.timeout,
        next_bookmark: now + BOOKMARK_INTERVAL,
        req,
        pending,
        rx,
        cursor: current,
        done,
        shutdown,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.pending.pop_front() {
                let mut line = serde_json::to_vec(&ev).unwrap_or_default();
                line.push(b'\n');
                return Some((Ok(Bytes::from(line)), st));
            }
            if st.done {
                return None;
            }
            tokio::select! {
                _ = st.shutdown.cancelled() => st.done = true,
                _ = tokio::time::sleep_until(st.deadline) => st.done = true,
                _ = tokio::time::sleep_until(st.next_bookmark), if st.req.bookmarks => {
                    st.next_bookmark = Instant::now() + BOOKMARK_INTERVAL;
                    st.pending.push_back(st.req.bookmark(st.cursor, false));
                }
                r = st.rx.recv() => match r {
                    Ok(ev) => {
                        st.cursor = ev.rv;
                        st.pending.extend(st.req.translate(&ev));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow a reader: make it relist instead of silently missing events.
                        st.pending.push_back(error_event(&ApiError::expired(format!(
                            "too old resource version: {} (the watch fell behind)",
                            st.cursor
                        ))));
                        st.done = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => st.done = true,
                },
            }
        }
    })
}
