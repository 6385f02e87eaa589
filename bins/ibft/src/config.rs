//! The TOML description `ibft build` reads.

use std::net::IpAddr;

use netboot_ibft::{
    flags, lun_from_number, AcpiHeader, ChapType, Control, Initiator, Nic, Origin, Table, Target,
};
use serde::Deserialize;

use crate::LayoutArg;

/// A whole table. Everything but the target's `ip` and `name` has a default.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `spec` (default) or `ipxe`.
    pub layout: Option<LayoutArg>,
    #[serde(default)]
    acpi: AcpiConfig,
    /// Control flag: log in to the boot target only.
    #[serde(default)]
    single_login: bool,
    initiator: Option<InitiatorConfig>,
    #[serde(default)]
    nic: Vec<NicConfig>,
    #[serde(default)]
    target: Vec<TargetConfig>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct AcpiConfig {
    oem_id: Option<String>,
    oem_table_id: Option<String>,
    #[serde(default)]
    oem_revision: u32,
    creator_id: Option<String>,
    #[serde(default)]
    creator_revision: u32,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct InitiatorConfig {
    name: String,
    isns_server: Option<IpAddr>,
    slp_server: Option<IpAddr>,
    #[serde(default)]
    radius_servers: Vec<IpAddr>,
    /// Raw flags; default valid + boot selected.
    flags: Option<u8>,
}

/// A number or one of the names of the known values.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum NumberOrName {
    Number(u8),
    Name(String),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct NicConfig {
    /// Address, optionally with the prefix: `10.0.2.15/24`.
    ip: Option<String>,
    /// Prefix length, if `ip` has none.
    prefix: Option<u8>,
    /// `dhcp` (default), `manual`, `other`, `well-known`,
    /// `router-advertisement`, `unchanged`, or a number.
    origin: Option<NumberOrName>,
    gateway: Option<IpAddr>,
    #[serde(default)]
    dns: Vec<IpAddr>,
    dhcp_server: Option<IpAddr>,
    #[serde(default)]
    vlan: u16,
    /// `52:54:00:12:34:56`.
    mac: String,
    /// `bus:device.function` in hex, as lspci prints it: `00:02.0`.
    pci: Option<String>,
    #[serde(default)]
    hostname: String,
    /// Raw flags; default valid + boot selected + global.
    flags: Option<u8>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct TargetConfig {
    ip: IpAddr,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default)]
    lun: u64,
    name: String,
    /// Index of the NIC the target is reached through.
    #[serde(default)]
    nic: u8,
    #[serde(default)]
    chap_name: String,
    #[serde(default)]
    chap_secret: String,
    #[serde(default)]
    reverse_chap_name: String,
    #[serde(default)]
    reverse_chap_secret: String,
    /// `none`, `one-way`, `mutual` or a number; default from which
    /// credentials are set.
    chap_type: Option<NumberOrName>,
    /// Raw flags; default valid + boot selected.
    flags: Option<u8>,
}

fn default_port() -> u16 {
    3260
}

fn fixed<const N: usize>(
    what: &str,
    s: &Option<String>,
    default: [u8; N],
) -> Result<[u8; N], String> {
    let Some(s) = s else { return Ok(default) };
    if s.len() > N || !s.is_ascii() {
        return Err(format!("{what} {s:?} must be at most {N} ASCII characters"));
    }
    let mut a = [0u8; N];
    a[..s.len()].copy_from_slice(s.as_bytes());
    Ok(a)
}

fn two(what: &str, v: &[IpAddr]) -> Result<[Option<IpAddr>; 2], String> {
    if v.len() > 2 {
        return Err(format!("{what}: at most 2 addresses, got {}", v.len()));
    }
    Ok([v.first().copied(), v.get(1).copied()])
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!(
            "mac {s:?} is not six hex bytes like 52:54:00:12:34:56"
        ));
    }
    for (m, p) in mac.iter_mut().zip(parts) {
        *m =
            u8::from_str_radix(p, 16).map_err(|_| format!("mac {s:?}: {p:?} is not a hex byte"))?;
    }
    Ok(mac)
}

fn parse_pci(s: &str) -> Result<u16, String> {
    let bad = || format!("pci {s:?} is not bus:device.function in hex like 00:02.0");
    let (bus, rest) = s.split_once(':').ok_or_else(bad)?;
    let (dev, func) = rest.split_once('.').ok_or_else(bad)?;
    let bus = u8::from_str_radix(bus, 16).map_err(|_| bad())?;
    let dev = u8::from_str_radix(dev, 16).map_err(|_| bad())?;
    let func = u8::from_str_radix(func, 16).map_err(|_| bad())?;
    if dev > 31 || func > 7 {
        return Err(bad());
    }
    Ok(u16::from(bus) << 8 | u16::from(dev) << 3 | u16::from(func))
}

fn origin(v: &Option<NumberOrName>) -> Result<Origin, String> {
    Ok(match v {
        None => Origin::DHCP,
        Some(NumberOrName::Number(n)) => Origin(*n),
        Some(NumberOrName::Name(n)) => (0..=15)
            .map(Origin)
            .find(|o| o.name() == Some(n.as_str()))
            .ok_or_else(|| format!("origin {n:?} is not one of other, manual, well-known, dhcp, router-advertisement, unchanged"))?,
    })
}

impl Config {
    /// The model the description stands for.
    pub fn to_table(&self) -> Result<Table, String> {
        let valid = flags::BLOCK_VALID | flags::FIRMWARE_BOOT_SELECTED;
        let defaults = AcpiHeader::default();
        let a = &self.acpi;
        let mut t = Table {
            acpi: AcpiHeader {
                oem_id: fixed("acpi.oem_id", &a.oem_id, defaults.oem_id)?,
                oem_table_id: fixed("acpi.oem_table_id", &a.oem_table_id, defaults.oem_table_id)?,
                oem_revision: a.oem_revision,
                creator_id: fixed("acpi.creator_id", &a.creator_id, defaults.creator_id)?,
                creator_revision: a.creator_revision,
                ..defaults
            },
            control: Control {
                flags: if self.single_login {
                    flags::CONTROL_SINGLE_LOGIN_ONLY
                } else {
                    0
                },
                extensions: 0,
            },
            ..Table::default()
        };
        if let Some(i) = &self.initiator {
            t.initiator = Some(Initiator {
                flags: i.flags.unwrap_or(valid),
                isns_server: i.isns_server,
                slp_server: i.slp_server,
                radius_servers: two("initiator.radius_servers", &i.radius_servers)?,
                name: i.name.clone(),
            });
        }
        if self.nic.len() > 2 {
            return Err(format!(
                "at most 2 [[nic]] sections, got {}",
                self.nic.len()
            ));
        }
        for (k, n) in self.nic.iter().enumerate() {
            let (ip, prefix) = match n.ip.as_deref() {
                None => (None, n.prefix.unwrap_or(0)),
                Some(s) => {
                    let (addr, pre) = match s.split_once('/') {
                        Some((a, p)) => (
                            a,
                            Some(p.parse::<u8>().map_err(|_| {
                                format!("nic {k}: prefix in {s:?} is not a number")
                            })?),
                        ),
                        None => (s, None),
                    };
                    let ip: IpAddr = addr
                        .parse()
                        .map_err(|_| format!("nic {k}: ip {s:?} is not an address"))?;
                    (Some(ip), pre.or(n.prefix).unwrap_or(0))
                }
            };
            let max = if matches!(ip, Some(IpAddr::V6(_))) {
                128
            } else {
                32
            };
            if prefix > max {
                return Err(format!("nic {k}: prefix {prefix} is longer than {max}"));
            }
            t.nics[k] = Some(Nic {
                flags: n.flags.unwrap_or(valid | flags::NIC_GLOBAL),
                ip,
                prefix_len: prefix,
                origin: origin(&n.origin).map_err(|e| format!("nic {k}: {e}"))?,
                gateway: n.gateway,
                dns: two(&format!("nic {k}: dns"), &n.dns)?,
                dhcp_server: n.dhcp_server,
                vlan: n.vlan,
                mac: parse_mac(&n.mac).map_err(|e| format!("nic {k}: {e}"))?,
                pci_bdf: match &n.pci {
                    None => 0,
                    Some(p) => parse_pci(p).map_err(|e| format!("nic {k}: {e}"))?,
                },
                hostname: n.hostname.clone(),
            });
        }
        if self.target.len() > 2 {
            return Err(format!(
                "at most 2 [[target]] sections, got {}",
                self.target.len()
            ));
        }
        for (k, g) in self.target.iter().enumerate() {
            let chap_type = match &g.chap_type {
                Some(NumberOrName::Number(n)) => ChapType(*n),
                Some(NumberOrName::Name(n)) => (0..=2)
                    .map(ChapType)
                    .find(|c| c.name() == Some(n.as_str()))
                    .ok_or_else(|| {
                        format!("target {k}: chap_type {n:?} is not none, one-way or mutual")
                    })?,
                None if !g.reverse_chap_name.is_empty() => ChapType::MUTUAL,
                None if !g.chap_name.is_empty() => ChapType::ONE_WAY,
                None => ChapType::NONE,
            };
            if g.nic as usize >= self.nic.len().max(1) {
                return Err(format!(
                    "target {k}: nic {} does not name one of the {} [[nic]] sections",
                    g.nic,
                    self.nic.len()
                ));
            }
            t.targets[k] = Some(Target {
                flags: g.flags.unwrap_or(valid),
                ip: Some(g.ip),
                port: g.port,
                lun: lun_from_number(g.lun)
                    .ok_or_else(|| format!("target {k}: lun {} is above 16383", g.lun))?,
                chap_type,
                nic_association: g.nic,
                name: g.name.clone(),
                chap_name: g.chap_name.clone(),
                chap_secret: g.chap_secret.clone(),
                reverse_chap_name: g.reverse_chap_name.clone(),
                reverse_chap_secret: g.reverse_chap_secret.clone(),
            });
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_parse_and_reject() {
        assert_eq!(
            parse_mac("52:54:00:12:34:56").unwrap(),
            [0x52, 0x54, 0, 0x12, 0x34, 0x56]
        );
        assert!(parse_mac("52:54:00:12:34").is_err());
        assert!(parse_mac("52:54:00:12:34:zz").is_err());
        assert_eq!(parse_pci("00:02.0").unwrap(), 0x0010);
        assert_eq!(parse_pci("1f:1f.7").unwrap(), 0x1fff);
        assert!(parse_pci("00:20.0").is_err());
        assert!(origin(&Some(NumberOrName::Name("dchp".into()))).is_err());
        assert_eq!(
            origin(&Some(NumberOrName::Name("manual".into()))).unwrap(),
            Origin::MANUAL
        );
    }

    #[test]
    fn config_limits() {
        let c: Config =
            toml::from_str("[[target]]\nip = \"10.0.0.1\"\nname = \"iqn.x\"\nlun = 20000\n")
                .unwrap();
        assert!(c.to_table().unwrap_err().contains("lun 20000"));
        let c: Config =
            toml::from_str("[[nic]]\nmac = \"00:00:00:00:00:01\"\nip = \"10.0.0.2/33\"\n").unwrap();
        assert!(c.to_table().unwrap_err().contains("prefix 33"));
        assert!(toml::from_str::<Config>("bogus = 1\n").is_err());
    }
}
