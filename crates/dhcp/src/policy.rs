//! The sans-IO PXE policy: classify a client, pick its next stage from a
//! table of rules, and build the proxyDHCP OFFER and the port-4011 boot
//! server ACK.
//!
//! # How a PXE boot runs through this module
//!
//! 1. The firmware broadcasts a DISCOVER with option 60 `PXEClient:...`.
//!    The site's DHCP server offers an address; `pxed` hands the DISCOVER
//!    to [`ProxyServer::handle`] with [`Port::Dhcp`] and sends the returned
//!    proxy OFFER: no address, option 60 `PXEClient`, the boot file and
//!    next server, and (for PXE ROMs) option 43 pointing boot-server
//!    discovery at us.
//! 2. The ROM then sends a REQUEST to port 4011; [`Port::BootServer`]
//!    answers it with the ACK that carries the boot file.
//! 3. The ROM runs `undionly.kpxe` / `ipxe.efi`, which is iPXE: it
//!    DHCPs again, now with option 77 `iPXE` and option 175. The policy
//!    sees an iPXE client and hands it the script URL instead of the
//!    binary, so it does not chainload itself forever.
//!
//! Clients without option 60 `PXEClient...` are never answered
//! ([`Ignored::NotPxeClient`]): the site's DHCP server serves them.
//!
//! The rule table is data; with the `serde` feature it reads from TOML:
//!
//! ```toml
//! [[rule]]            # iPXE that can do HTTP: the boot script
//! ipxe = true
//! ipxe_features = ["http"]
//! script_url = "http://10.0.0.1/boot.ipxe"
//!
//! [[rule]]            # legacy BIOS PXE ROMs
//! arch = "bios"
//! boot_file = "undionly.kpxe"
//!
//! [[rule]]            # x86-64 and ARM64 UEFI
//! arch = ["efi-x64", "efi-arm64"]
//! boot_file = "ipxe.efi"
//! next_server = "10.0.0.2"
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::wire::encap::BootServer;
use crate::wire::encap::{
    pxe, BootItem, IpxeFeature, IpxeFeatures, MenuItem, MenuPrompt, PxeVendor,
};
use crate::wire::{
    code, ClientArch, Message, MessageType, Op, RawOption, Repr, VendorKind, CLIENT_PORT,
    SERVER_PORT,
};
use crate::{EmitError, Error, PolicyError};

/// Where the client's firmware architecture came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchSource {
    /// Option 93.
    ClientArchOption,
    /// The `Arch:` field of option 60.
    VendorClass,
    /// Neither: assumed x86 BIOS (PXE 2.1 clients predate option 93).
    Default,
}

/// What the policy knows about a PXE client. `Copy`, built without
/// allocating (unless the client split options 77, 93 or 175 into several
/// instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientClass {
    /// Firmware architecture (option 93, else option 60, else BIOS).
    pub arch: ClientArch,
    /// Where `arch` came from.
    pub arch_source: ArchSource,
    /// UNDI version from option 60, if sent.
    pub undi: Option<(u16, u16)>,
    /// Whether the client is iPXE (option 77 `iPXE`, or option 175 present).
    pub ipxe: bool,
    /// Whether the client is UEFI HTTP boot (option 60 `HTTPClient...`)
    /// rather than PXE: it wants a URL, and only rules with `http = true`
    /// serve it.
    pub http: bool,
    /// The iPXE build's feature flags (option 175).
    pub ipxe_features: IpxeFeatures,
    /// The iPXE version (175.235).
    pub ipxe_version: Option<(u8, u8, u8)>,
    /// The request's `chaddr`.
    pub chaddr: [u8; 16],
    /// The request's `hlen` (capped at 16).
    pub hlen: u8,
}

impl ClientClass {
    /// The client hardware address (MAC for Ethernet).
    pub fn hw_addr(&self) -> &[u8] {
        &self.chaddr[..usize::from(self.hlen.min(16))]
    }
}

/// Classifies a request. `Ok(None)` for clients that are neither PXE nor
/// UEFI HTTP boot clients (no option 60 starting with `PXEClient` or
/// `HTTPClient`); an error when option 93 or 175 is malformed.
pub fn classify(msg: &Message<'_>) -> Result<Option<ClientClass>, Error> {
    let Some(vc) = msg.pxe_vendor_class() else {
        return Ok(None);
    };
    let (arch, arch_source) = match (msg.client_arch()?, vc.arch) {
        (Some(a), _) => (a, ArchSource::ClientArchOption),
        (None, Some(a)) => (a, ArchSource::VendorClass),
        (None, None) => (ClientArch::X86_BIOS, ArchSource::Default),
    };
    let ipxe_opts = msg.ipxe_options()?;
    let (ipxe_features, ipxe_version) = match &ipxe_opts {
        Some(o) => (o.features(), o.version()),
        None => (IpxeFeatures::default(), None),
    };
    Ok(Some(ClientClass {
        arch,
        arch_source,
        undi: vc.undi,
        ipxe: ipxe_opts.is_some() || msg.is_ipxe_user_class(),
        http: vc.kind == VendorKind::HttpClient,
        ipxe_features,
        ipxe_version,
        chaddr: *msg.chaddr(),
        hlen: msg.hlen().min(16),
    }))
}

/// One rule of the table: a match (all given conditions must hold) and a
/// result. The first rule that matches and can serve the client wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Rule {
    /// Architectures this rule is for; empty means any. `efi-x64` (7) and
    /// `efi-bc` (9) match each other (see [`ClientArch`]). In TOML a name,
    /// a number, or a list of them.
    #[cfg_attr(
        feature = "serde",
        serde(default, deserialize_with = "serde_impl::one_or_many")
    )]
    pub arch: Vec<ClientArch>,
    /// `Some(true)`: only iPXE clients; `Some(false)`: only non-iPXE.
    #[cfg_attr(feature = "serde", serde(default))]
    pub ipxe: Option<bool>,
    /// iPXE features the client must all have (implies iPXE).
    #[cfg_attr(feature = "serde", serde(default))]
    pub ipxe_features: Vec<IpxeFeature>,
    /// The boot file (firmware clients, or iPXE when no `script_url`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub boot_file: Option<String>,
    /// The iPXE script URL, given to iPXE clients instead of `boot_file`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub script_url: Option<String>,
    /// The TFTP server (`siaddr`); default: the server identity's.
    #[cfg_attr(feature = "serde", serde(default))]
    pub next_server: Option<Ipv4Addr>,
    /// `true`: the rule serves UEFI HTTP boot clients (`HTTPClient`),
    /// whose `boot_file` must be a URL; `false` (the default): PXE clients.
    /// A rule never serves both, so an HTTP client is never handed a TFTP
    /// file name.
    #[cfg_attr(feature = "serde", serde(default))]
    pub http: bool,
}

impl Rule {
    /// A rule giving `boot_file` to non-iPXE clients of an architecture
    /// (a name as in [`ClientArch::from_str`](std::str::FromStr) or a number).
    pub fn for_arch(arch: &str, boot_file: &str) -> Result<Rule, PolicyError> {
        Ok(Rule {
            arch: vec![arch.parse()?],
            ipxe: Some(false),
            boot_file: Some(boot_file.to_string()),
            ..Rule::default()
        })
    }

    /// A rule giving the script at `url` to every iPXE client.
    pub fn ipxe_script(url: &str) -> Rule {
        Rule {
            ipxe: Some(true),
            script_url: Some(url.to_string()),
            ..Rule::default()
        }
    }

    /// Whether the match part holds for `c`.
    pub fn matches(&self, c: &ClientClass) -> bool {
        let arch_ok = self.arch.is_empty()
            || self
                .arch
                .iter()
                .any(|&a| a == c.arch || (a.is_efi_x64() && c.arch.is_efi_x64()));
        let ipxe_ok = self.ipxe.is_none_or(|want| want == c.ipxe);
        let kind_ok = self.http == c.http;
        let feat_ok = self.ipxe_features.is_empty()
            || (c.ipxe
                && self
                    .ipxe_features
                    .iter()
                    .all(|&f| c.ipxe_features.contains(f)));
        arch_ok && ipxe_ok && feat_ok && kind_ok
    }

    /// The file this rule gives `c`: the script URL to iPXE clients when
    /// set, else the boot file. `None` if the rule has nothing for `c`
    /// (a script-only rule and a non-iPXE client).
    pub fn file_for(&self, c: &ClientClass) -> Option<&str> {
        match (&self.script_url, &self.boot_file) {
            (Some(s), _) if c.ipxe => Some(s),
            (_, Some(f)) => Some(f),
            _ => None,
        }
    }
}

/// The policy: rules in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Policy {
    /// The rules; TOML `[[rule]]` tables.
    #[cfg_attr(feature = "serde", serde(default, rename = "rule"))]
    pub rules: Vec<Rule>,
}

/// What the policy decided for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// Index of the rule that matched.
    pub rule: usize,
    /// The boot file name or script URL (`file`, or option 67 if longer
    /// than the field).
    pub file: String,
    /// The next server (`siaddr`).
    pub next_server: Ipv4Addr,
}

impl Policy {
    /// A policy from rules.
    pub fn new(rules: Vec<Rule>) -> Policy {
        Policy { rules }
    }

    /// The usual chain-loading table, as `pxed`'s command line builds it:
    /// iPXE clients get `ipxe_script` (if given), BIOS ROMs `bios_file`,
    /// x86-64 UEFI `efi64_file`. Absent arguments add no rule.
    pub fn chainload(
        ipxe_script: Option<&str>,
        bios_file: Option<&str>,
        efi64_file: Option<&str>,
    ) -> Policy {
        let mut rules = Vec::new();
        if let Some(u) = ipxe_script {
            rules.push(Rule::ipxe_script(u));
        }
        if let Some(f) = bios_file {
            rules.push(Rule {
                arch: vec![ClientArch::X86_BIOS],
                boot_file: Some(f.to_string()),
                ..Rule::default()
            });
        }
        if let Some(f) = efi64_file {
            rules.push(Rule {
                arch: vec![ClientArch::EFI_X64],
                boot_file: Some(f.to_string()),
                ..Rule::default()
            });
        }
        Policy { rules }
    }

    /// Checks that every rule can produce a file, and that HTTP boot rules
    /// give URLs.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (index, r) in self.rules.iter().enumerate() {
            if r.boot_file.is_none() && r.script_url.is_none() {
                return Err(PolicyError::EmptyRule { index });
            }
            if r.http {
                let is_url = |u: &Option<String>| {
                    u.as_deref()
                        .is_none_or(|u| u.starts_with("http://") || u.starts_with("https://"))
                };
                if !is_url(&r.boot_file) || !is_url(&r.script_url) {
                    return Err(PolicyError::HttpRuleWithoutUrl { index });
                }
            }
        }
        Ok(())
    }

    /// The first rule that matches `c` and has a file for it.
    pub fn decide(&self, c: &ClientClass, identity: &ServerIdentity) -> Option<Boot> {
        self.rules.iter().enumerate().find_map(|(i, r)| {
            if !r.matches(c) {
                return None;
            }
            Some(Boot {
                rule: i,
                file: r.file_for(c)?.to_string(),
                next_server: r
                    .next_server
                    .or(identity.tftp_server)
                    .unwrap_or(identity.server_ip),
            })
        })
    }
}

/// Who we are: the address we answer from (option 54, the PXE boot server)
/// and the default TFTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerIdentity {
    /// Our IPv4 address on the client's network.
    pub server_ip: Ipv4Addr,
    /// Default next server; `None` means `server_ip`.
    pub tftp_server: Option<Ipv4Addr>,
}

impl ServerIdentity {
    /// We serve TFTP ourselves.
    pub fn new(server_ip: Ipv4Addr) -> Self {
        ServerIdentity {
            server_ip,
            tftp_server: None,
        }
    }
}

/// The port a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// UDP 67: proxyDHCP; DISCOVERs are answered with a proxy OFFER.
    Dhcp,
    /// UDP 4011: PXE boot server; REQUESTs (and INFORMs) get an ACK.
    BootServer,
}

/// Why a request gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// `op` is not BOOTREQUEST.
    NotRequest,
    /// No option 60 `PXEClient...` or `HTTPClient...`: the site's DHCP
    /// server serves it.
    NotPxeClient,
    /// A message type this port does not answer (e.g. a REQUEST on 67,
    /// which goes to the site's DHCP server).
    MessageType(Option<MessageType>),
    /// No rule matched the client.
    NoRule(ClientClass),
}

/// Which reply was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    /// proxyDHCP OFFER (port 67).
    ProxyOffer,
    /// Boot server ACK (port 4011).
    BootAck,
}

/// A reply to send, with what it was based on (for the daemon's log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// OFFER or ACK.
    pub kind: ReplyKind,
    /// The message; emit it with [`Repr::emit`].
    pub repr: Repr,
    /// The client as classified.
    pub class: ClientClass,
    /// The policy's decision.
    pub boot: Boot,
}

/// The result of handling one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this.
    Reply(Box<Reply>),
    /// Send nothing.
    Ignore(Ignored),
}

/// A proxyDHCP and PXE boot server: a policy and an identity. Sans-IO:
/// feed it parsed requests, send what it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyServer {
    /// The rule table.
    pub policy: Policy,
    /// Our addresses.
    pub identity: ServerIdentity,
}

impl ProxyServer {
    /// A server.
    pub fn new(policy: Policy, identity: ServerIdentity) -> Self {
        ProxyServer { policy, identity }
    }

    /// Handles a request that arrived on `port`. Errors are malformed
    /// options the policy needs (43, 53, 93, 175) or a file name that
    /// cannot be encoded; log them and drop the request.
    pub fn handle(&self, port: Port, req: &Message<'_>) -> Result<Outcome, Error> {
        if req.op() != Op::Request {
            return Ok(Outcome::Ignore(Ignored::NotRequest));
        }
        let Some(class) = classify(req)? else {
            return Ok(Outcome::Ignore(Ignored::NotPxeClient));
        };
        let mt = req.message_type()?;
        let kind = match (port, mt) {
            (Port::Dhcp, Some(MessageType::Discover)) => ReplyKind::ProxyOffer,
            (Port::BootServer, Some(MessageType::Request | MessageType::Inform)) => {
                ReplyKind::BootAck
            }
            _ => return Ok(Outcome::Ignore(Ignored::MessageType(mt))),
        };
        let Some(boot) = self.policy.decide(&class, &self.identity) else {
            return Ok(Outcome::Ignore(Ignored::NoRule(class)));
        };
        let repr = match kind {
            ReplyKind::ProxyOffer => proxy_offer(req, &class, &boot, &self.identity)?,
            ReplyKind::BootAck => boot_ack(req, &boot, &self.identity)?,
        };
        Ok(Outcome::Reply(Box::new(Reply {
            kind,
            repr,
            class,
            boot,
        })))
    }
}

/// The PXE boot server type we announce in 43.8/43.9 and expect in 43.71
/// (the first vendor-specific type, as dnsmasq uses).
pub const BOOT_SERVER_TYPE: u16 = 0x8000;
/// The menu entry and prompt text of our one-item PXE menu.
pub const MENU_TEXT: &str = "netboot";

fn put_file(r: &mut Repr, file: &str) -> Result<(), EmitError> {
    // Leave room for a terminating NUL; longer names (script URLs) go in
    // option 67, which iPXE and PXE ROMs read when `file` is empty.
    if file.len() < r.file.len() {
        r.set_file(file.as_bytes())
    } else {
        if file.len() > 255 * 4 {
            return Err(EmitError::TooLong {
                field: "boot file",
                len: file.len(),
                max: 255 * 4,
            });
        }
        r.push(RawOption::new(code::BOOTFILE_NAME, file.as_bytes()));
        Ok(())
    }
}

fn common_pxe_options(
    r: &mut Repr,
    req: &Message<'_>,
    t: MessageType,
    id: &ServerIdentity,
    http: bool,
) {
    r.push(RawOption::message_type(t));
    r.push(RawOption::ipv4(code::SERVER_IDENTIFIER, id.server_ip));
    // UEFI HTTP boot takes an offer as its own only with `HTTPClient`
    // (UEFI 2.5 §24.7).
    let vendor: &[u8] = if http { b"HTTPClient" } else { b"PXEClient" };
    r.push(RawOption::new(code::VENDOR_CLASS_ID, vendor));
    if let Some(uuid) = req.option(code::CLIENT_UUID) {
        // Echoed byte for byte (PXE 2.1 §2.2.5), even if not type 0, but
        // only at its defined size (type + 16 bytes): a client cannot make
        // us broadcast kilobytes.
        if uuid.len() == 17 {
            r.push(RawOption::new(
                code::CLIENT_UUID,
                uuid.to_cow().into_owned(),
            ));
        }
    }
}

/// The proxyDHCP OFFER to a PXE client's DISCOVER (PXE 2.1 §2.2.3):
/// no `yiaddr`; 53 OFFER, 54 our address, 60 `PXEClient`, 97 echoed; the
/// next stage in `siaddr`/`file`. Firmware PXE clients also get option 43
/// as dnsmasq sends it (discovery control 3, us as the only boot server,
/// a one-item menu and a zero-timeout prompt), so ROMs that ignore `file`
/// in a proxy offer come to port 4011; iPXE clients get no option 43 (the
/// file is their script). UEFI HTTP boot clients get 60 `HTTPClient`, no
/// option 43, and their URL.
pub fn proxy_offer(
    req: &Message<'_>,
    class: &ClientClass,
    boot: &Boot,
    id: &ServerIdentity,
) -> Result<Repr, Error> {
    let mut r = Repr::reply_to(req);
    r.header.siaddr = boot.next_server;
    common_pxe_options(&mut r, req, MessageType::Offer, id, class.http);
    if !class.ipxe && !class.http {
        let v = PxeVendor {
            discovery_control: Some(pxe::NO_BROADCAST | pxe::NO_MULTICAST),
            boot_servers: vec![BootServer {
                kind: BOOT_SERVER_TYPE,
                addrs: vec![id.server_ip],
            }],
            menu: vec![MenuItem {
                kind: BOOT_SERVER_TYPE,
                description: MENU_TEXT.as_bytes().to_vec(),
            }],
            prompt: Some(MenuPrompt {
                timeout: 0,
                prompt: MENU_TEXT.as_bytes().to_vec(),
            }),
            ..PxeVendor::default()
        };
        r.push(RawOption::new(code::VENDOR_SPECIFIC, v.encode()?));
    }
    put_file(&mut r, &boot.file)?;
    Ok(r)
}

/// The boot server ACK to a REQUEST on port 4011 (PXE 2.1 §2.2.6): 53 ACK,
/// 54, 60 `PXEClient`, 97 echoed, the boot item (43.71) echoed when the
/// request had one, `siaddr`/`file` the next stage, `yiaddr` the client's
/// `ciaddr` (as dnsmasq does).
pub fn boot_ack(req: &Message<'_>, boot: &Boot, id: &ServerIdentity) -> Result<Repr, Error> {
    let mut r = Repr::reply_to(req);
    r.header.yiaddr = req.ciaddr();
    r.header.siaddr = boot.next_server;
    common_pxe_options(&mut r, req, MessageType::Ack, id, false);
    if let Some(item) = req.pxe_boot_item()? {
        let v = PxeVendor {
            boot_item: Some(BootItem {
                kind: item.kind,
                layer: item.layer,
            }),
            ..PxeVendor::default()
        };
        r.push(RawOption::new(code::VENDOR_SPECIFIC, v.encode()?));
    }
    put_file(&mut r, &boot.file)?;
    Ok(r)
}

/// Where to send the reply to `req`, which came from `src` on `port`
/// (RFC 2131 §4.1): through the relay if `giaddr` is set; on port 67 to
/// `ciaddr` if the client has an address, else to the broadcast address (a
/// PXE client has no address yet; proxy offers carry none); on port 4011
/// back to the sender.
pub fn reply_destination(req: &Message<'_>, port: Port, src: SocketAddrV4) -> SocketAddrV4 {
    let giaddr = req.giaddr();
    match port {
        _ if !giaddr.is_unspecified() => SocketAddrV4::new(giaddr, SERVER_PORT),
        Port::Dhcp if !req.ciaddr().is_unspecified() => {
            SocketAddrV4::new(req.ciaddr(), CLIENT_PORT)
        }
        Port::Dhcp => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
        Port::BootServer => src,
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;
    use serde::de::{self, Deserialize, Deserializer, Visitor};
    use std::fmt;

    /// Values written as a name or a number in a policy.
    trait NameOrNumberValue: std::str::FromStr + Sized {
        fn from_number(v: i64) -> Option<Self>;
    }

    impl NameOrNumberValue for ClientArch {
        fn from_number(v: i64) -> Option<Self> {
            u16::try_from(v).ok().map(ClientArch)
        }
    }

    impl NameOrNumberValue for IpxeFeature {
        fn from_number(v: i64) -> Option<Self> {
            u8::try_from(v).ok().map(IpxeFeature)
        }
    }

    struct NameOrNumber<T>(std::marker::PhantomData<T>);

    impl<T: NameOrNumberValue> Visitor<'_> for NameOrNumber<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a name or a number")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            s.parse()
                .map_err(|_| E::custom(format!("unknown name {s:?}")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::from_number(v).ok_or_else(|| E::custom(format!("{v} out of range")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(-1))
        }
    }

    impl<'de> Deserialize<'de> for ClientArch {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NameOrNumber(std::marker::PhantomData))
        }
    }

    impl<'de> Deserialize<'de> for IpxeFeature {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NameOrNumber(std::marker::PhantomData))
        }
    }

    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(ClientArch),
        Many(Vec<ClientArch>),
    }

    pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ClientArch>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(v) => v,
        })
    }
}

#[cfg(test)]
mod tests;
