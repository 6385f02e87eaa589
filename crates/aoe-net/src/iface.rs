//! Interface facts (index, MAC address, MTU): from sysfs on Linux, through
//! `pnet_datalink` elsewhere (feature `pnet`; pnet has no MTU, so 1500 is
//! assumed there).

#![allow(dead_code)]

use std::io;

use netboot_aoe::wire::MacAddr;

/// Index, MAC address and MTU of a network interface.
#[derive(Debug, Clone, Copy)]
pub struct Iface {
    /// Interface index.
    pub index: i32,
    /// Hardware address.
    pub mac: MacAddr,
    /// MTU.
    pub mtu: usize,
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    Ok(())
}

fn bad(name: &str, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("interface {name}: bad {what}"),
    )
}

impl Iface {
    /// Reads the facts from /sys/class/net/NAME.
    #[cfg(target_os = "linux")]
    pub fn lookup(name: &str) -> io::Result<Iface> {
        check_name(name)?;
        let base = std::path::Path::new("/sys/class/net").join(name);
        let read = |f: &str| -> io::Result<String> {
            std::fs::read_to_string(base.join(f))
                .map(|s| s.trim().to_owned())
                .map_err(|e| io::Error::new(e.kind(), format!("interface {name}: {f}: {e}")))
        };
        let index = read("ifindex")?.parse().map_err(|_| bad(name, "ifindex"))?;
        let mac = read("address")?.parse().map_err(|_| bad(name, "address"))?;
        let mtu = read("mtu")?.parse().map_err(|_| bad(name, "mtu"))?;
        Ok(Iface { index, mac, mtu })
    }

    /// Asks pnet for the index and address; pnet has no MTU: 1500.
    #[cfg(all(not(target_os = "linux"), feature = "pnet"))]
    pub fn lookup(name: &str) -> io::Result<Iface> {
        check_name(name)?;
        let ni = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("interface {name}: not found"),
                )
            })?;
        let mac = ni.mac.ok_or_else(|| bad(name, "address"))?;
        let index = i32::try_from(ni.index).map_err(|_| bad(name, "ifindex"))?;
        Ok(Iface {
            index,
            mac: MacAddr(mac.octets()),
            mtu: 1500,
        })
    }
}
