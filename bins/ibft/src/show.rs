//! Text and JSON renderings of a table.

use std::fmt::Write as _;
use std::net::IpAddr;

use netboot_ibft::wire::prefix_to_netmask;
use netboot_ibft::{flags, Nic, ParseError, Table, Target};
use serde_json::{json, Value};

/// Rendering options.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Print CHAP secrets.
    pub show_secrets: bool,
}

fn ascii(b: &[u8]) -> String {
    b.iter()
        .take_while(|&&c| c != 0)
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn addr(a: &Option<IpAddr>) -> String {
    a.map_or_else(|| "-".to_owned(), |a| a.to_string())
}

fn addr_json(a: &Option<IpAddr>) -> Value {
    a.map_or(Value::Null, |a| Value::String(a.to_string()))
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn pci(bdf: u16) -> String {
    format!("{:02x}:{:02x}.{:x}", bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7)
}

fn lun(l: &[u8; 8]) -> String {
    // Peripheral (00) and flat (01) addressing carry the number in the
    // first two bytes; anything else is shown raw.
    if l[2..] == [0; 6] && l[0] >> 6 <= 1 {
        (u16::from(l[0] & 0x3f) << 8 | u16::from(l[1])).to_string()
    } else {
        l.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn flag_names(f: u8, kind: &str) -> String {
    let mut v = Vec::new();
    if f & flags::BLOCK_VALID != 0 {
        v.push("valid");
    }
    if f & flags::FIRMWARE_BOOT_SELECTED != 0 {
        v.push("boot-selected");
    }
    match kind {
        "nic" if f & flags::NIC_GLOBAL != 0 => v.push("global"),
        "target" => {
            if f & flags::TARGET_USE_RADIUS_CHAP != 0 {
                v.push("radius-chap");
            }
            if f & flags::TARGET_USE_RADIUS_RCHAP != 0 {
                v.push("radius-rchap");
            }
        }
        _ => {}
    }
    format!("{f:#04x} ({})", v.join(", "))
}

fn secret(s: &str, o: Options) -> String {
    if s.is_empty() {
        String::new()
    } else if o.show_secrets {
        s.to_owned()
    } else {
        "<hidden>".to_owned()
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

fn checksum_ok(bytes: &[u8]) -> bool {
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    bytes.len() >= len && bytes[..len].iter().fold(0u8, |s, &b| s.wrapping_add(b)) == 0
}

/// The table as text, one block per structure.
pub fn text(t: &Table, bytes: &[u8], o: Options) -> String {
    let mut s = String::new();
    let a = &t.acpi;
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let _ = writeln!(
        s,
        "{}  length {len}  revision {}  checksum {}  oem \"{}\"  table \"{}\"  oem-revision {}",
        ascii(&a.signature),
        a.revision,
        if checksum_ok(bytes) { "ok" } else { "BAD" },
        ascii(&a.oem_id),
        ascii(&a.oem_table_id),
        a.oem_revision,
    );
    let _ = writeln!(
        s,
        "control    flags {:#04x}{}  extensions {}",
        t.control.flags,
        if t.control.flags & flags::CONTROL_SINGLE_LOGIN_ONLY != 0 {
            " (single-login-only)"
        } else {
            ""
        },
        t.control.extensions
    );
    if let Some(i) = &t.initiator {
        let _ = writeln!(s, "initiator  flags {}", flag_names(i.flags, "initiator"));
        let _ = writeln!(s, "  name           {}", or_dash(&i.name));
        let _ = writeln!(
            s,
            "  isns {}  slp {}  radius {} {}",
            addr(&i.isns_server),
            addr(&i.slp_server),
            addr(&i.radius_servers[0]),
            addr(&i.radius_servers[1])
        );
    } else {
        let _ = writeln!(s, "initiator  absent");
    }
    for (k, n) in t.nics.iter().enumerate() {
        if let Some(n) = n {
            nic_text(&mut s, k, n);
        }
    }
    for (k, g) in t.targets.iter().enumerate() {
        if let Some(g) = g {
            target_text(&mut s, k, g, o);
        }
    }
    s
}

fn nic_text(s: &mut String, k: usize, n: &Nic) {
    let _ = writeln!(s, "nic{k}       flags {}", flag_names(n.flags, "nic"));
    let mask = match n.ip {
        Some(IpAddr::V4(_)) | None => format!(" ({})", prefix_to_netmask(n.prefix_len)),
        Some(IpAddr::V6(_)) => String::new(),
    };
    let _ = writeln!(
        s,
        "  ip             {}/{}{mask}  origin {}",
        addr(&n.ip),
        n.prefix_len,
        n.origin
            .name()
            .map_or_else(|| n.origin.0.to_string(), str::to_owned)
    );
    let _ = writeln!(
        s,
        "  gateway {}  dns {} {}  dhcp {}",
        addr(&n.gateway),
        addr(&n.dns[0]),
        addr(&n.dns[1]),
        addr(&n.dhcp_server)
    );
    let _ = writeln!(
        s,
        "  mac {}  vlan {}  pci {}  hostname {}",
        mac(&n.mac),
        n.vlan,
        pci(n.pci_bdf),
        or_dash(&n.hostname)
    );
}

fn target_text(s: &mut String, k: usize, g: &Target, o: Options) {
    let _ = writeln!(s, "target{k}    flags {}", flag_names(g.flags, "target"));
    let _ = writeln!(s, "  name           {}", or_dash(&g.name));
    let portal = match g.ip {
        Some(IpAddr::V6(v6)) => format!("[{v6}]:{}", g.port),
        other => format!("{}:{}", addr(&other), g.port),
    };
    let _ = writeln!(
        s,
        "  portal {portal}  lun {}  nic {}  chap {}",
        lun(&g.lun),
        g.nic_association,
        g.chap_type
            .name()
            .map_or_else(|| g.chap_type.0.to_string(), str::to_owned)
    );
    if !g.chap_name.is_empty() || !g.chap_secret.is_empty() {
        let _ = writeln!(
            s,
            "  chap name {}  secret {}",
            or_dash(&g.chap_name),
            secret(&g.chap_secret, o)
        );
    }
    if !g.reverse_chap_name.is_empty() || !g.reverse_chap_secret.is_empty() {
        let _ = writeln!(
            s,
            "  reverse chap name {}  secret {}",
            or_dash(&g.reverse_chap_name),
            secret(&g.reverse_chap_secret, o)
        );
    }
}

/// The table as JSON.
pub fn json(t: &Table, bytes: &[u8], problems: &[ParseError], o: Options) -> Value {
    let a = &t.acpi;
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let initiator = t.initiator.as_ref().map_or(Value::Null, |i| {
        json!({
            "flags": i.flags,
            "name": i.name,
            "isns_server": addr_json(&i.isns_server),
            "slp_server": addr_json(&i.slp_server),
            "radius_servers": [addr_json(&i.radius_servers[0]), addr_json(&i.radius_servers[1])],
        })
    });
    let nics: Vec<Value> = t
        .nics
        .iter()
        .enumerate()
        .filter_map(|(k, n)| n.as_ref().map(|n| (k, n)))
        .map(|(k, n)| {
            json!({
                "index": k,
                "flags": n.flags,
                "ip": addr_json(&n.ip),
                "prefix_len": n.prefix_len,
                "origin": n.origin.name().map_or_else(|| json!(n.origin.0), |s| json!(s)),
                "gateway": addr_json(&n.gateway),
                "dns": [addr_json(&n.dns[0]), addr_json(&n.dns[1])],
                "dhcp_server": addr_json(&n.dhcp_server),
                "vlan": n.vlan,
                "mac": mac(&n.mac),
                "pci": pci(n.pci_bdf),
                "hostname": n.hostname,
            })
        })
        .collect();
    let targets: Vec<Value> = t
        .targets
        .iter()
        .enumerate()
        .filter_map(|(k, g)| g.as_ref().map(|g| (k, g)))
        .map(|(k, g)| {
            json!({
                "index": k,
                "flags": g.flags,
                "ip": addr_json(&g.ip),
                "port": g.port,
                "lun": lun(&g.lun),
                "chap_type": g.chap_type.name().map_or_else(|| json!(g.chap_type.0), |s| json!(s)),
                "nic_association": g.nic_association,
                "name": g.name,
                "chap_name": g.chap_name,
                "chap_secret": secret(&g.chap_secret, o),
                "reverse_chap_name": g.reverse_chap_name,
                "reverse_chap_secret": secret(&g.reverse_chap_secret, o),
            })
        })
        .collect();
    json!({
        "signature": ascii(&a.signature),
        "length": len,
        "revision": a.revision,
        "checksum_ok": checksum_ok(bytes),
        "oem_id": ascii(&a.oem_id),
        "oem_table_id": ascii(&a.oem_table_id),
        "oem_revision": a.oem_revision,
        "control": { "flags": t.control.flags, "extensions": t.control.extensions },
        "initiator": initiator,
        "nics": nics,
        "targets": targets,
        "problems": problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
    })
}
