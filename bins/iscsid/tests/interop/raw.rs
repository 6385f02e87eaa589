//! A hand-made initiator on a plain socket, as an attacker on the LAN (or a
//! tester) writes one: login through `netboot_iscsi`'s initiator state
//! machine, then PDUs built by hand. Used where the real initiators cannot
//! be made to misbehave: sessions that stay silent, fields at their limits.
//! Every behaviour it checks is also one a real initiator relies on.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use netboot_iscsi::codec::PduDecoder;
use netboot_iscsi::login::{InitiatorConfig, InitiatorLogin, LoginStatus};
use netboot_iscsi::wire::{Bhs, Digests, Pdu, ScsiCommand, TaskAttr};

/// Connects to `dst` from the local address `src` (any of 127/8 on
/// loopback): each source address counts as another client.
pub fn connect_from(src: IpAddr, dst: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(dst), Type::STREAM, None)?;
    s.bind(&SocketAddr::new(src, 0).into())?;
    s.connect_timeout(&dst.into(), Duration::from_secs(5))?;
    Ok(s.into())
}

/// A logged-in connection.
pub struct Raw {
    pub stream: TcpStream,
    buf: BytesMut,
    dec: PduDecoder,
    digests: Digests,
    cmd_sn: u32,
    exp_stat_sn: u32,
}

/// How a login ended.
#[derive(Debug)]
pub enum LoginError {
    /// The target answered with this non-success status.
    Refused(LoginStatus),
    /// The connection broke (or the target closed it) without an answer.
    #[allow(dead_code)] // read through Debug in panics
    Io(String),
}

fn io(e: impl std::fmt::Display) -> LoginError {
    LoginError::Io(e.to_string())
}

impl Raw {
    /// Logs in to `target` (normal session) over `stream`.
    pub fn login(stream: TcpStream, initiator: &str, target: &str) -> Result<Raw, LoginError> {
        Raw::login_with_isid(stream, initiator, target, (std::process::id() & 0xff) as u8)
    }

    /// [`Raw::login`] with `isid` as the last byte of the ISID.
    pub fn login_with_isid(
        stream: TcpStream,
        initiator: &str,
        target: &str,
        isid: u8,
    ) -> Result<Raw, LoginError> {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        let mut cfg = InitiatorConfig::new(initiator, Some(target.to_owned()));
        cfg.isid.0[5] = isid;
        let mut login = InitiatorLogin::new(cfg);
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
            dec: PduDecoder::default(),
            digests: Digests::default(),
            cmd_sn: 1,
            exp_stat_sn: 0,
        };
        let mut req = login.start();
        loop {
            raw.send(&req).map_err(io)?;
            let resp = raw
                .recv()
                .map_err(io)?
                .ok_or_else(|| io("closed during login"))?;
            match login.handle(&resp) {
                Ok(Some(next)) => req = next,
                Ok(None) => break,
                Err(netboot_iscsi::Error::LoginRefused(s)) => return Err(LoginError::Refused(s)),
                Err(e) => return Err(io(e)),
            }
        }
        let result = login.result().expect("login complete");
        raw.digests = result.params.digests();
        raw.dec.set_digests(raw.digests);
        raw.cmd_sn = result.cmd_sn;
        raw.exp_stat_sn = result.stat_sn.wrapping_add(1);
        Ok(raw)
    }

    fn send(&mut self, p: &Pdu) -> std::io::Result<()> {
        let mut b = BytesMut::new();
        p.emit(&mut b, self.digests)
            .map_err(std::io::Error::other)?;
        self.stream.write_all(&b)
    }

    /// The next PDU, `None` at end of stream.
    pub fn recv(&mut self) -> std::io::Result<Option<Pdu>> {
        loop {
            if let Some(p) = self
                .dec
                .decode(&mut self.buf)
                .map_err(std::io::Error::other)?
            {
                return Ok(Some(p));
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Runs one read command; returns its status, the data received, and
    /// the underflow flag with the residual count.
    pub fn read_command(&mut self, cdb: &[u8], edtl: u32) -> (u8, Vec<u8>, bool, u32) {
        let mut c = [0u8; 16];
        c[..cdb.len()].copy_from_slice(cdb);
        let itt = self.cmd_sn;
        let cmd = ScsiCommand {
            immediate: false,
            final_: true,
            read: true,
            write: false,
            attr: TaskAttr::Simple,
            lun: 0,
            itt,
            expected_data_transfer_length: edtl,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
            cdb: c,
        };
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        self.send(&Pdu::new(cmd)).expect("send command");
        let mut data = Vec::new();
        loop {
            let p = self.recv().expect("read").expect("connection closed");
            match p.header {
                Bhs::DataIn(d) => {
                    data.extend_from_slice(&p.data);
                    if d.status.is_some() {
                        self.exp_stat_sn = d.stat_sn.wrapping_add(1);
                        return (d.status.unwrap_or(0), data, d.underflow, d.residual_count);
                    }
                }
                Bhs::ScsiResponse(r) => {
                    self.exp_stat_sn = r.stat_sn.wrapping_add(1);
                    return (r.status, data, r.underflow, r.residual_count);
                }
                Bhs::NopIn(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
