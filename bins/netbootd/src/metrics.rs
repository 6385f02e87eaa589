//! Prometheus metrics (`GET /metrics` on the API listener), with the
//! `prometheus-client` crate: per PC its scripts, logins, open sessions,
//! overlay bytes, commands and bytes read and written; refused scripts by
//! reason; the DHCP server's decisions; TFTP transfers by direction and
//! outcome, and their bytes; HTTP requests of the boot side by route and
//! status, and their bytes.

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

/// A decision of the DHCP server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Decision {
    /// `offer`, `ack`, `nak`, `ignored`, `malformed`, `too_large`,
    /// `pool_dry`.
    pub decision: String,
}

/// A TFTP transfer's kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Transfer {
    /// `read` or `write`.
    pub direction: String,
    /// `complete`, `abandoned`, `failed`, `aborted`.
    pub outcome: String,
}

/// A TFTP direction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Direction {
    /// `read` or `write`.
    pub direction: String,
}

/// An HTTP request of the boot side.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Request {
    /// `script` (`/boot.ipxe`, `/boot/MAC.ipxe`), `files`, `ipxe`, `other`.
    pub route: String,
    /// The status code.
    pub status: String,
}

/// An HTTP route of the boot side.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    /// As in [`Request`].
    pub route: String,
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
    /// What the DHCP server counts (caught up at every scrape).
    pub dhcp: std::sync::Arc<netboot_pxed::Stats>,
    dhcp_decisions: Family<Decision, Counter>,
    tftp_transfers: Family<Transfer, Counter>,
    tftp_bytes: Family<Direction, Counter>,
    http_requests: Family<Request, Counter>,
    http_bytes: Family<Route, Counter>,
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
            dhcp: std::sync::Arc::default(),
            dhcp_decisions: Family::default(),
            tftp_transfers: Family::default(),
            tftp_bytes: Family::default(),
            http_requests: Family::default(),
            http_bytes: Family::default(),
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
        registry.register(
            "dhcp_decisions",
            "what the DHCP/PXE server did with the requests it got",
            m.dhcp_decisions.clone(),
        );
        registry.register(
            "tftp_transfers",
            "TFTP transfers ended, by direction and outcome",
            m.tftp_transfers.clone(),
        );
        registry.register(
            "tftp_bytes",
            "bytes TFTP transfers moved",
            m.tftp_bytes.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests of the boot side, by route and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_bytes",
            "bytes of HTTP answers of the boot side (their Content-Length)",
            m.http_bytes.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts an ended TFTP transfer.
    pub fn tftp(&self, r: &netboot_tftpd::Report) {
        let direction = if r.write { "write" } else { "read" };
        self.tftp_transfers
            .get_or_create(&Transfer {
                direction: direction.into(),
                outcome: r.outcome.as_str().into(),
            })
            .inc();
        self.tftp_bytes
            .get_or_create(&Direction {
                direction: direction.into(),
            })
            .inc_by(r.bytes);
    }

    /// Counts an HTTP answer of the boot side.
    pub fn http(&self, route: &str, status: u16, bytes: Option<u64>) {
        self.http_requests
            .get_or_create(&Request {
                route: route.into(),
                status: status.to_string(),
            })
            .inc();
        if let Some(b) = bytes {
            self.http_bytes
                .get_or_create(&Route {
                    route: route.into(),
                })
                .inc_by(b);
        }
    }

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
        let d = &self.dhcp;
        for (name, c) in [
            ("offer", &d.offers),
            ("ack", &d.acks),
            ("nak", &d.naks),
            ("ignored", &d.ignored),
            ("malformed", &d.malformed),
            ("too_large", &d.too_large),
            ("pool_dry", &d.pool_dry),
        ] {
            let total = c.load(std::sync::atomic::Ordering::Relaxed);
            let m = self.dhcp_decisions.get_or_create(&Decision {
                decision: name.into(),
            });
            m.inc_by(total.saturating_sub(m.get()));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
