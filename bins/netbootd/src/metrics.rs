//! Prometheus metrics (`GET /metrics` on the API listener), with the
//! `prometheus-client` crate: per PC its scripts, logins, open sessions,
//! overlay bytes, SCSI commands and bytes read and written; refused
//! scripts by reason.

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
    /// `not_yours`, `unknown`, `full`, `error`.
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
    commands: Family<Pc, Counter>,
    read_bytes: Family<Pc, Counter>,
    written_bytes: Family<Pc, Counter>,
    /// Held while the counters catch up (two scrapes at once would count
    /// twice).
    catch_up: std::sync::Mutex<()>,
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
            commands: Family::default(),
            read_bytes: Family::default(),
            written_bytes: Family::default(),
            catch_up: std::sync::Mutex::new(()),
            registry: Registry::default(),
        };
        for (name, help, family) in [
            ("scripts", "iPXE scripts sent, per PC", &m.scripts),
            ("logins", "iSCSI logins to a PC's disk", &m.logins),
            (
                "commands",
                "SCSI commands executed for a PC's sessions",
                &m.commands,
            ),
            ("read_bytes", "bytes a PC read from its disk", &m.read_bytes),
            (
                "written_bytes",
                "bytes a PC wrote to its disk",
                &m.written_bytes,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        for (name, help, family) in [
            (
                "sessions",
                "open iSCSI sessions of a PC's disk",
                &m.sessions,
            ),
            (
                "overlay_bytes",
                "bytes a PC's overlay takes on the server",
                &m.overlay_bytes,
            ),
        ] {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "script_refusals",
            "iPXE scripts refused, per reason",
            m.refused.clone(),
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
        let _one = self.catch_up.lock().unwrap_or_else(|e| e.into_inner());
        for p in pcs {
            let l = Pc { pc: p.name.clone() };
            self.sessions.get_or_create(&l).set(i64::from(p.sessions));
            self.overlay_bytes
                .get_or_create(&l)
                .set(i64::try_from(p.overlay_bytes).unwrap_or(i64::MAX));
            // iscsid keeps the totals: the counters catch up to them.
            for (family, total) in [
                (&self.commands, p.io.commands),
                (&self.read_bytes, p.io.read_bytes),
                (&self.written_bytes, p.io.written_bytes),
            ] {
                let c = family.get_or_create(&l);
                c.inc_by(total.saturating_sub(c.get()));
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
