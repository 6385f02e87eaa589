//! The PCs' iPXE scripts over TFTP too, for iPXE builds without HTTP
//! (`[server] scripts = "tftp"`): `boot.ipxe` chains to the PC's own
//! `boot/MAC.ipxe`, made as over HTTP and given only to the machine the
//! neighbour table says has that MAC. Every transfer's end is counted in
//! the metrics.

use std::net::SocketAddr;
use std::sync::Arc;

use netboot_tftp::wire::ErrorCode;
use netboot_tftpd::{Hooks, Refusal, Report};
use tracing::{info, warn};

use crate::inventory::{Inventory, Refusal as NoScript};

/// netbootd's part of the TFTP server.
pub struct Scripts {
    /// The PCs.
    pub inv: Arc<Inventory>,
    /// The TFTP port PCs reach us at.
    pub port: u16,
}

/// A script name.
#[derive(Debug, PartialEq, Eq)]
enum Script {
    /// `boot.ipxe`.
    First,
    /// `boot/AA-BB-CC-DD-EE-FF.ipxe`: the PC with that MAC.
    Pc(String),
    /// `boot/SOMETHING.ipxe` that names no MAC.
    Bad,
}

/// The script `name` asks for (a leading `/` allowed, as iPXE sends it).
fn script_of(name: &str) -> Option<Script> {
    let name = name.strip_prefix('/').unwrap_or(name);
    if name == "boot.ipxe" {
        return Some(Script::First);
    }
    let mac = name.strip_prefix("boot/")?.strip_suffix(".ipxe")?;
    Some(
        netboot_image::store::parse_mac(mac)
            .map(Script::Pc)
            .unwrap_or(Script::Bad),
    )
}

fn refuse(code: ErrorCode, message: &'static str, reason: String) -> Refusal {
    Refusal {
        code,
        message,
        reason,
    }
}

impl Scripts {
    /// `boot.ipxe`: the PC's own script by its MAC, over TFTP.
    fn first_script(&self) -> Vec<u8> {
        let port = if self.port == 69 {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        format!(
            "#!ipxe\nchain tftp://{}{port}/boot/${{mac:hexhyp}}.ipxe\n",
            self.inv.addr
        )
        .into_bytes()
    }
}

impl Hooks for Scripts {
    fn makes(&self, name: &str) -> bool {
        script_of(name).is_some()
    }

    fn make(&self, client: SocketAddr, name: &str) -> Result<Vec<u8>, Refusal> {
        let not_found = || {
            refuse(
                ErrorCode::FileNotFound,
                "File not found",
                "not a PC's script".into(),
            )
        };
        let mac = match script_of(name) {
            Some(Script::Pc(mac)) => mac,
            Some(Script::First) => return Ok(self.first_script()),
            _ => return Err(not_found()),
        };
        // A PC's script holds its secret: only the PC itself gets it.
        match crate::http::mac_of(client.ip()) {
            Some(m) if m == mac => {}
            other => {
                warn!(%client, asked = mac, peer_mac = ?other, "refused a PC's script over TFTP to another machine");
                self.inv.metrics.refuse("not_yours");
                return Err(refuse(
                    ErrorCode::AccessViolation,
                    "Access violation",
                    "a PC's script asked for by another machine".into(),
                ));
            }
        }
        match self.inv.boot(&mac, Some(client.ip())) {
            Ok(script) => {
                info!(%client, mac, "script sent over TFTP");
                Ok(script.into_bytes())
            }
            Err(e) => {
                let reason = match &e {
                    NoScript::Unknown(_) => "unknown",
                    NoScript::Full(_) => "full",
                    _ => "error",
                };
                warn!(%client, mac, "no script: {e}");
                self.inv.metrics.refuse(reason);
                Err(refuse(
                    ErrorCode::FileNotFound,
                    "File not found",
                    e.to_string(),
                ))
            }
        }
    }

    fn done(&self, report: &Report) {
        self.inv.metrics.tftp(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names() {
        assert_eq!(script_of("boot.ipxe"), Some(Script::First));
        assert_eq!(script_of("/boot.ipxe"), Some(Script::First));
        assert_eq!(
            script_of("/boot/52-54-00-12-34-56.ipxe"),
            Some(Script::Pc("52:54:00:12:34:56".into()))
        );
        assert_eq!(script_of("boot/not-a-mac.ipxe"), Some(Script::Bad));
        assert_eq!(script_of("undionly.kpxe"), None);
        assert_eq!(script_of("boot/52-54-00-12-34-56"), None);
    }
}
