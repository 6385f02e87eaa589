//! Prometheus metrics (`GET /metrics` on the API listener), with the
//! `prometheus-client` crate: per PC its scripts, logins, open sessions and
//! overlay bytes; refused scripts by reason.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::inventory::PcView;

/// A PC's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Pc {
    /// Its client name.
    pub pc: String,
}

/// Why a script was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// `not_yours`, `unknown`, `error`.
    pub reason: String,
}

/// The metrics of one netbootd.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Scripts sent, per PC.
    pub scripts: Family<Pc, Counter>,
    /// Scripts refused, per reason.
    pub refused: Family<Reason, Counter>,
    /// Logins to a PC's disk.
    pub logins: Family<Pc, Counter>,
    sessions: Family<Pc, Gauge>,
    overlay_bytes: Family<Pc, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("netboot");
        let m = Metrics {
            scripts: Family::default(),
            refused: Family::default(),
            logins: Family::default(),
            sessions: Family::default(),
            overlay_bytes: Family::default(),
            registry: Registry::default(),
        };
        registry.register("scripts", "iPXE scripts sent, per PC", m.scripts.clone());
        registry.register(
            "script_refusals",
            "iPXE scripts refused, per reason",
            m.refused.clone(),
        );
        registry.register("logins", "iSCSI logins to a PC's disk", m.logins.clone());
        registry.register(
            "sessions",
            "open iSCSI sessions of a PC's disk",
            m.sessions.clone(),
        );
        registry.register(
            "overlay_bytes",
            "bytes a PC's overlay takes on the server",
            m.overlay_bytes.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a refusal.
    pub fn refuse(&self, reason: &str) {
        self.refused
            .get_or_create(&Reason {
                reason: reason.into(),
            })
            .inc();
    }

    /// The text exposition, with the gauges of `pcs`.
    pub fn encode(&self, pcs: &[PcView]) -> String {
        for p in pcs {
            let l = Pc { pc: p.name.clone() };
            self.sessions.get_or_create(&l).set(i64::from(p.sessions));
            self.overlay_bytes
                .get_or_create(&l)
                .set(i64::try_from(p.overlay_bytes).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
