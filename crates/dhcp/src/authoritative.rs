//! A sans-IO authoritative DHCP server (RFC 2131 §4.3) for a network
//! where we are the only DHCP server: addresses from a [`Pool`], and the
//! PXE next stage (from the [`ProxyServer`]'s policy) in the same OFFER or
//! ACK for PXE clients.
//!
//! [`AuthoritativeServer::handle`] takes a parsed request and the time (unix
//! seconds) and returns an [`Answer`] that says everything the caller has
//! to do: send a reply (to its [`Reply::destination`]), persist the pool
//! first when the reply is an ACK ([`ReplyKind::Ack`]), persist it after a
//! [`Answer::Released`], or nothing. No sockets, no files, no clock.
//!
//! ```
//! use netboot_dhcp::authoritative::{Answer, AuthoritativeServer, ReplyKind, Settings};
//! use netboot_dhcp::policy::{Policy, ProxyServer, ServerIdentity};
//! use netboot_dhcp::wire::{code, Message, MessageType, Op, RawOption, Repr};
//! use std::net::Ipv4Addr;
//!
//! let mut server = AuthoritativeServer::new(
//!     ProxyServer::new(Policy::default(), ServerIdentity::new(Ipv4Addr::new(10, 0, 0, 1))),
//!     Settings::new(
//!         (Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199)),
//!         Ipv4Addr::new(255, 255, 255, 0),
//!     ),
//! );
//! // A plain (non-PXE) client's DISCOVER.
//! let mut req = Repr::new(Op::Request);
//! req.header.chaddr[..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 1]);
//! req.push(RawOption::message_type(MessageType::Discover));
//! let mut buf = [0u8; 576];
//! let n = req.emit(&mut buf).unwrap();
//!
//! let now = 1_700_000_000;
//! let Answer::Reply(reply) = server.handle(&Message::parse(&buf[..n]).unwrap(), now).unwrap()
//! else { panic!() };
//! assert_eq!(reply.kind, ReplyKind::Offer);
//! let mut out = vec![0u8; reply.repr.buffer_len()];
//! let n = reply.repr.emit(&mut out).unwrap();
//! let offer = Message::parse(&out[..n]).unwrap();
//! assert_eq!(offer.message_type().unwrap(), Some(MessageType::Offer));
//! assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 0, 0, 100));
//! assert!(reply.pxe.is_none());
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::lease::{Lease, Pool, Refusal, Usage};
use crate::policy::{classify, proxy_offer, Boot, ClientClass, ProxyServer};
use crate::wire::encap::ipxe;
use crate::wire::{code, Message, MessageType, Op, RawOption, Repr, CLIENT_PORT, SERVER_PORT};
use crate::Error;

/// What the server hands out besides addresses and the PXE part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The first and last address of the pool.
    pub range: (Ipv4Addr, Ipv4Addr),
    /// Lease time in seconds (option 51).
    pub lease_time: u32,
    /// The clients' subnet mask (option 1).
    pub netmask: Ipv4Addr,
    /// The default gateway (option 3), if any.
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6); none sends no option 6.
    pub dns: Vec<Ipv4Addr>,
}

impl Settings {
    /// A range and a netmask; leases of an hour, no router, no DNS.
    pub fn new(range: (Ipv4Addr, Ipv4Addr), netmask: Ipv4Addr) -> Settings {
        Settings {
            range,
            lease_time: 3600,
            netmask,
            router: None,
            dns: Vec::new(),
        }
    }
}

/// Which reply was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// A DHCPOFFER of [`Reply::yiaddr`] to a DISCOVER. The address is held
    /// for [`OFFER_HOLD_SECS`](crate::lease::OFFER_HOLD_SECS).
    Offer,
    /// A DHCPACK of this lease to a REQUEST. The pool has bound it: the
    /// caller persists the pool's bound leases before it sends the ACK,
    /// and does not send it if that fails (an address forgotten on restart
    /// would be handed out twice).
    Ack(Lease),
    /// A DHCPACK to an INFORM (RFC 2131 §3.4): the options, no address, no
    /// lease time, `ciaddr` echoed.
    InformAck,
    /// A DHCPNAK to a REQUEST the pool refuses, with why (also in option
    /// 56).
    Nak(Refusal),
}

/// The PXE part of a reply: the client as classified and the policy's
/// decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pxe {
    /// The client.
    pub class: ClientClass,
    /// Its next stage.
    pub boot: Boot,
}

/// A reply to send, with what it is based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// OFFER, ACK, INFORM ACK or NAK.
    pub kind: ReplyKind,
    /// The message; emit it with [`Repr::emit`].
    pub repr: Repr,
    /// The client's key in the pool (see [`client_key`]).
    pub client: String,
    /// The address offered or leased; unspecified in an INFORM ACK and a
    /// NAK.
    pub yiaddr: Ipv4Addr,
    /// For a PXE client that a policy rule serves: its class and next
    /// stage, which the reply carries. `None` for other clients (they get
    /// an address only) and in a NAK.
    pub pxe: Option<Pxe>,
    /// Where to send it (RFC 2131 §4.1): the relay (`giaddr`, port 67) if
    /// there is one; else a NAK is broadcast, and other replies go to
    /// `ciaddr` if the client has one, else are broadcast (port 68).
    pub destination: SocketAddrV4,
}

/// Why a request gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// `op` is not BOOTREQUEST.
    NotRequest,
    /// A REQUEST naming another server in option 54: the client took that
    /// server's offer.
    OtherServer(Ipv4Addr),
    /// A message type a server does not answer (OFFER, ACK, ...), or none.
    MessageType(Option<MessageType>),
    /// A RELEASE of an address (`ciaddr`) the client does not hold.
    NotHeld(Ipv4Addr),
    /// A DECLINE without option 50, or of an address outside the range or
    /// held by another client.
    DeclineRefused(Option<Ipv4Addr>),
}

/// What to do about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send this (an ACK only once the pool is saved).
    Reply(Box<Reply>),
    /// A DISCOVER that gets no OFFER: no address is free.
    PoolDry {
        /// The client's key in the pool.
        client: String,
        /// What the pool's addresses are doing.
        usage: Usage,
    },
    /// The client gave its address back (RELEASE): the bound leases
    /// changed, save them. Nothing is sent.
    Released {
        /// The client's key in the pool.
        client: String,
        /// The address.
        ip: Ipv4Addr,
    },
    /// The client found its address in use by another host (DECLINE): the
    /// address is kept out of the pool for
    /// [`DECLINE_HOLD_SECS`](crate::lease::DECLINE_HOLD_SECS). Nothing is
    /// sent.
    Declined {
        /// The client's key in the pool.
        client: String,
        /// The address.
        ip: Ipv4Addr,
    },
    /// Send nothing; the pool is unchanged.
    Ignore(Ignored),
}

/// The pool's key for a client: `id:` and option 61 if sent, else `hw:`
/// and its hardware address, bytes in hex separated by colons.
pub fn client_key(req: &Message<'_>) -> String {
    match req.client_id() {
        Some(id) => format!("id:{}", hex(&id.to_cow())),
        None => format!("hw:{}", hex(req.client_hw_addr())),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An authoritative DHCP server: a pool, the options it hands out, and a
/// [`ProxyServer`] whose policy gives PXE clients their next stage and
/// whose identity is our address (option 54). Sans-IO: feed it parsed
/// requests and the time, do what it answers.
#[derive(Debug, Clone)]
pub struct AuthoritativeServer {
    proxy: ProxyServer,
    settings: Settings,
    pool: Pool,
}

impl AuthoritativeServer {
    /// A server with an empty pool of `settings.range` (see
    /// [`AuthoritativeServer::pool_mut`] to restore saved leases).
    pub fn new(proxy: ProxyServer, settings: Settings) -> AuthoritativeServer {
        let pool = Pool::new(
            settings.range.0,
            settings.range.1,
            u64::from(settings.lease_time),
        );
        AuthoritativeServer {
            proxy,
            settings,
            pool,
        }
    }

    /// The policy and our identity.
    pub fn proxy(&self) -> &ProxyServer {
        &self.proxy
    }

    /// What is handed out.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The leases (to save [`Pool::bound`]).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The leases, to [`Pool::restore`] saved ones.
    pub fn pool_mut(&mut self) -> &mut Pool {
        &mut self.pool
    }

    /// Handles a request that arrived on port 67 at `now` (unix seconds).
    ///
    /// DISCOVER gets an OFFER, REQUEST an ACK or a NAK, INFORM an ACK;
    /// RELEASE and DECLINE change the pool. Errors are malformed options
    /// (50, 53, 54, 93, 175) or a boot file that cannot be encoded;
    /// the pool is unchanged then: log them and drop the request.
    pub fn handle(&mut self, req: &Message<'_>, now: u64) -> Result<Answer, Error> {
        if req.op() != Op::Request {
            return Ok(Answer::Ignore(Ignored::NotRequest));
        }
        let client = client_key(req);
        let mt = req.message_type()?;
        match mt {
            Some(MessageType::Discover) => {
                let requested = req.requested_ip()?;
                let Some(ip) = self.pool.pick(&client, requested, now) else {
                    let usage = self.pool.usage(now);
                    return Ok(Answer::PoolDry { client, usage });
                };
                // The reply first: if it cannot be built, nothing is held.
                let (repr, pxe) = self.build(req, MessageType::Offer, ip)?;
                self.pool.hold(&client, ip, now);
                Ok(self.reply(req, ReplyKind::Offer, repr, client, ip, pxe))
            }
            Some(MessageType::Request) => {
                let server = self.proxy.identity.server_ip;
                if let Some(sid) = req.server_id()? {
                    if sid != server {
                        return Ok(Answer::Ignore(Ignored::OtherServer(sid)));
                    }
                }
                // Option 50 in SELECTING and INIT-REBOOT, `ciaddr` when
                // renewing or rebinding (RFC 2131 §4.3.2).
                let want = match req.requested_ip()? {
                    Some(ip) => ip,
                    None => req.ciaddr(),
                };
                if let Err(why) = self.pool.check(&client, want, now) {
                    let mut r = Repr::reply_to(req);
                    r.push(RawOption::message_type(MessageType::Nak));
                    r.push(RawOption::ipv4(code::SERVER_IDENTIFIER, server));
                    r.push(RawOption::new(code::MESSAGE, why.to_string().into_bytes()));
                    let kind = ReplyKind::Nak(why);
                    return Ok(self.reply(req, kind, r, client, Ipv4Addr::UNSPECIFIED, None));
                }
                // The reply first: if it cannot be built, nothing is bound.
                let (repr, pxe) = self.build(req, MessageType::Ack, want)?;
                let lease = self.pool.bind(&client, want, now);
                Ok(self.reply(req, ReplyKind::Ack(lease), repr, client, want, pxe))
            }
            Some(MessageType::Release) => {
                let ip = req.ciaddr();
                Ok(if self.pool.release(&client, ip) {
                    Answer::Released { client, ip }
                } else {
                    Answer::Ignore(Ignored::NotHeld(ip))
                })
            }
            Some(MessageType::Decline) => Ok(match req.requested_ip()? {
                Some(ip) if self.pool.decline(&client, ip, now) => Answer::Declined { client, ip },
                ip => Answer::Ignore(Ignored::DeclineRefused(ip)),
            }),
            Some(MessageType::Inform) => {
                let (repr, pxe) = self.build(req, MessageType::Ack, Ipv4Addr::UNSPECIFIED)?;
                let ip = Ipv4Addr::UNSPECIFIED;
                Ok(self.reply(req, ReplyKind::InformAck, repr, client, ip, pxe))
            }
            other => Ok(Answer::Ignore(Ignored::MessageType(other))),
        }
    }

    /// An OFFER or ACK of `ip` (an INFORM's ACK when `ip` is
    /// unspecified): for PXE clients a rule serves, the proxy offer with
    /// `reply_type` in option 53, else a plain reply; then the address
    /// (or `ciaddr` for INFORM), the lease time and the network's options.
    fn build(
        &self,
        req: &Message<'_>,
        reply_type: MessageType,
        ip: Ipv4Addr,
    ) -> Result<(Repr, Option<Pxe>), Error> {
        let id = &self.proxy.identity;
        let pxe = classify(req)?.and_then(|class| {
            let boot = self.proxy.policy.decide(&class, id)?;
            Some(Pxe { class, boot })
        });
        let mut r = match &pxe {
            Some(p) => {
                let mut r = proxy_offer(req, &p.class, &p.boot, id)?;
                for o in r
                    .options
                    .iter_mut()
                    .filter(|o| o.code == code::MESSAGE_TYPE)
                {
                    o.data = vec![u8::from(reply_type)];
                }
                r
            }
            None => {
                let mut r = Repr::reply_to(req);
                r.push(RawOption::message_type(reply_type));
                r.push(RawOption::ipv4(code::SERVER_IDENTIFIER, id.server_ip));
                r
            }
        };
        if pxe.as_ref().is_some_and(|p| p.class.ipxe) {
            // We are the only DHCP server here: tell iPXE (175.176,
            // no-pxedhcp) not to wait some 3 s for a proxyDHCP offer.
            r.push(RawOption::new(
                code::IPXE_ENCAP,
                vec![ipxe::NO_PXEDHCP, 1, 1],
            ));
        }
        if ip.is_unspecified() {
            r.header.ciaddr = req.ciaddr();
        } else {
            r.header.yiaddr = ip;
            r.push(RawOption::u32(code::LEASE_TIME, self.settings.lease_time));
        }
        r.push(RawOption::ipv4(code::SUBNET_MASK, self.settings.netmask));
        if let Some(gw) = self.settings.router {
            r.push(RawOption::ipv4_list(code::ROUTER, &[gw]));
        }
        if !self.settings.dns.is_empty() {
            r.push(RawOption::ipv4_list(
                code::DOMAIN_NAME_SERVER,
                &self.settings.dns,
            ));
        }
        Ok((r, pxe))
    }

    fn reply(
        &self,
        req: &Message<'_>,
        kind: ReplyKind,
        repr: Repr,
        client: String,
        yiaddr: Ipv4Addr,
        pxe: Option<Pxe>,
    ) -> Answer {
        let destination = destination(req, matches!(kind, ReplyKind::Nak(_)));
        Answer::Reply(Box::new(Reply {
            kind,
            repr,
            client,
            yiaddr,
            pxe,
            destination,
        }))
    }
}

/// Where a reply to `req` goes (RFC 2131 §4.1): to the relay's port 67 if
/// `giaddr` is set; else a NAK to the broadcast address, and any other
/// reply to `ciaddr` if the client has one, else to the broadcast address
/// (port 68).
fn destination(req: &Message<'_>, nak: bool) -> SocketAddrV4 {
    if !req.giaddr().is_unspecified() {
        SocketAddrV4::new(req.giaddr(), SERVER_PORT)
    } else if !nak && !req.ciaddr().is_unspecified() {
        SocketAddrV4::new(req.ciaddr(), CLIENT_PORT)
    } else {
        SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT)
    }
}

#[cfg(test)]
mod tests;
