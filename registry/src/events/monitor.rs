//! What the relays report: their cursors and lag (from the database, so every replica
//! tells the same), and this replica's own view (whether it holds the lease, its last
//! error, how much it published), for `/readyz` and the Prometheus `/metrics` page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use capstan_client::types::RelayStatus;

use crate::error::RegistryResult;
use crate::service::Registry;

/// This replica's side of one relay.
#[derive(Debug, Default, Clone)]
struct LocalState {
    publishing: bool,
    last_error: Option<String>,
    published_total: u64,
    errors_total: u64,
}

/// Shared by the relays (which record) and the probes (which report).
pub struct RelayMonitor {
    registry: Registry,
    publishers: Vec<String>,
    holder: String,
    local: Mutex<BTreeMap<String, LocalState>>,
}

impl RelayMonitor {
    pub fn new(registry: Registry, publishers: Vec<String>) -> Self {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "registry".to_owned());
        Self {
            registry,
            local: Mutex::new(
                publishers
                    .iter()
                    .map(|p| (p.clone(), LocalState::default()))
                    .collect(),
            ),
            publishers,
            holder: format!("{host}/{}/{}", std::process::id(), &instance[..12]),
        }
    }

    /// This replica's identity in lease rows.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    pub fn publishers(&self) -> &[String] {
        &self.publishers
    }

    fn update(&self, publisher: &str, change: impl FnOnce(&mut LocalState)) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        change(local.entry(publisher.to_owned()).or_default());
    }

    pub(crate) fn record_publishing(&self, publisher: &str, publishing: bool) {
        self.update(publisher, |s| s.publishing = publishing);
    }

    pub(crate) fn record_published(&self, publisher: &str, count: usize) {
        self.update(publisher, |s| s.published_total += count as u64);
    }

    pub(crate) fn record_error(&self, publisher: &str, error: String) {
        self.update(publisher, |s| {
            s.errors_total += 1;
            s.last_error = Some(error);
        });
    }

    pub(crate) fn clear_error(&self, publisher: &str) {
        self.update(publisher, |s| s.last_error = None);
    }

    fn local(&self) -> BTreeMap<String, LocalState> {
        self.local.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every configured relay's cursor and lag, plus this replica's view.
    pub async fn statuses(&self) -> RegistryResult<Vec<RelayStatus>> {
        let (positions, latest) = self
            .registry
            .relay_positions(self.publishers.clone())
            .await?;
        let local = self.local();
        Ok(self
            .publishers
            .iter()
            .map(|publisher| {
                let cursor = positions
                    .iter()
                    .find(|p| p.publisher == *publisher)
                    .map_or(0, |p| p.cursor);
                let state = local.get(publisher).cloned().unwrap_or_default();
                RelayStatus {
                    publisher: publisher.clone(),
                    cursor,
                    lag: (latest - cursor).max(0),
                    publishing: state.publishing,
                    last_error: state.last_error,
                }
            })
            .collect())
    }

    /// For `/readyz`: `None` without relays; a relay whose position cannot be read shows
    /// the error instead.
    pub async fn readiness(&self) -> Option<Vec<RelayStatus>> {
        if self.publishers.is_empty() {
            return None;
        }
        match self.statuses().await {
            Ok(statuses) => Some(statuses),
            Err(error) => Some(
                self.publishers
                    .iter()
                    .map(|publisher| RelayStatus {
                        publisher: publisher.clone(),
                        cursor: 0,
                        lag: 0,
                        publishing: false,
                        last_error: Some(format!("cannot read the relay's cursor: {error}")),
                    })
                    .collect(),
            ),
        }
    }

    /// The Prometheus text for the relays (empty without relays).
    pub async fn render_prometheus(&self) -> String {
        if self.publishers.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        let statuses = match self.statuses().await {
            Ok(statuses) => statuses,
            Err(error) => {
                tracing::warn!(%error, "cannot read relay cursors for /metrics");
                return out;
            }
        };
        let local = self.local();
        family(
            &mut out,
            "capstan_relay_lag_events",
            "gauge",
            "Events recorded but not yet acknowledged by the relay's broker.",
            statuses.iter().map(|s| (&s.publisher, s.lag)),
        );
        family(
            &mut out,
            "capstan_relay_cursor_seq",
            "gauge",
            "The last event seq the relay's broker acknowledged.",
            statuses.iter().map(|s| (&s.publisher, s.cursor)),
        );
        family(
            &mut out,
            "capstan_relay_publishing",
            "gauge",
            "Whether this replica holds the relay's lease (1) or stands by (0).",
            statuses
                .iter()
                .map(|s| (&s.publisher, i64::from(s.publishing))),
        );
        family(
            &mut out,
            "capstan_relay_published_total",
            "counter",
            "Events this replica published (repeats after a failure count again).",
            local.iter().map(|(p, state)| (p, state.published_total)),
        );
        family(
            &mut out,
            "capstan_relay_errors_total",
            "counter",
            "Failed connection or publish attempts of this replica.",
            local.iter().map(|(p, state)| (p, state.errors_total)),
        );
        out
    }
}

/// One Prometheus metric family of `kind` (`gauge`, `counter`): one sample per publisher.
fn family<P: std::fmt::Display, V: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl Iterator<Item = (P, V)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (publisher, value) in samples {
        let _ = writeln!(out, "{name}{{publisher=\"{publisher}\"}} {value}");
    }
}
