//! The interface pxed serves and its sockets.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// What pxed needs to know about its interface.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its (first) IPv4 address: the server identifier of our replies.
    pub addr: Ipv4Addr,
    /// That address's netmask.
    pub netmask: Ipv4Addr,
}

/// Looks the interface up.
pub fn interface(name: &str) -> Result<Interface, String> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| format!("listing interfaces: {e}"))?;
    let mut exists = false;
    for a in addrs {
        if a.interface_name != name {
            continue;
        }
        exists = true;
        let Some(v4) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) else {
            continue;
        };
        let netmask = a
            .netmask
            .as_ref()
            .and_then(|s| s.as_sockaddr_in())
            .map_or(Ipv4Addr::new(255, 255, 255, 0), |m| m.ip());
        return Ok(Interface {
            name: name.to_owned(),
            addr: v4.ip(),
            netmask,
        });
    }
    Err(if exists {
        format!("interface {name} has no IPv4 address")
    } else {
        format!("no interface {name}")
    })
}

/// A UDP socket on `0.0.0.0:port` that only sees `iface`'s traffic
/// (SO_BINDTODEVICE) and may send broadcasts. SO_REUSEADDR lets it share
/// the port with a DHCP server on the same host, which then gets its own
/// copy of each broadcast.
pub fn bind(iface: &str, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.as_bytes()))?;
    s.set_nonblocking(true)?;
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}
