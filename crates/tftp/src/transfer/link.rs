//! What both engines share about the peer: its transfer ID, the ERROR
//! packets owed to it or to strangers, the outcome, and the control packet
//! (request, OACK or ACK) that a time-out repeats.

use std::io;
use std::net::SocketAddr;

use crate::wire::{emit_error, ErrorCode, Options, Packet};
use crate::Error;

use super::{Rollover, Transmit};

/// Peer address bookkeeping shared by both engines.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub(super) peer: SocketAddr,
    /// False for a client until the server's first answer fixes its port.
    pub(super) locked: bool,
    /// A stranger to send ERROR 5 to (one at a time, so a flood costs nothing).
    pub(super) stray: Option<SocketAddr>,
    /// An ERROR to send to the peer before stopping.
    pub(super) error_out: Option<(ErrorCode, String)>,
    pub(super) outcome: Option<Result<(), Error>>,
}

impl Link {
    pub(super) fn new(peer: SocketAddr, locked: bool) -> Self {
        Link {
            peer,
            locked,
            stray: None,
            error_out: None,
            outcome: None,
        }
    }

    /// Checks the sender's transfer ID; strangers get ERROR 5 and are ignored.
    pub(super) fn accept(&mut self, from: SocketAddr) -> bool {
        if from == self.peer {
            return true;
        }
        if !self.locked && from.ip() == self.peer.ip() {
            self.peer = from;
            self.locked = true;
            return true;
        }
        self.stray = Some(from);
        false
    }

    /// Ends the transfer with `err`, telling the peer with ERROR.
    pub(super) fn fail(&mut self, err: Error) {
        if self.outcome.is_none() {
            let code = err.tftp_code();
            let msg = match &err {
                Error::Timeout { .. } => "Transfer timed out".to_owned(),
                Error::Io { .. } | Error::Emit(_) => "I/O error".to_owned(),
                e => e.to_string(),
            };
            self.error_out = Some((code, msg));
            self.outcome = Some(Err(err));
        }
    }

    /// Ends the transfer because the peer sent ERROR (no reply).
    pub(super) fn peer_error(&mut self, code: ErrorCode, message: &str) {
        if self.outcome.is_none() {
            self.outcome = Some(Err(Error::Peer {
                code,
                message: message.chars().take(256).collect(),
            }));
        }
    }

    /// Emits pending ERROR 5 or ERROR-to-peer packets.
    pub(super) fn poll_errors(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(dest) = self.stray.take() {
            let len = emit_error(ErrorCode::UnknownTid, "Unknown transfer ID", buf);
            return Some(Transmit { dest, len });
        }
        if let Some((code, msg)) = self.error_out.take() {
            let len = emit_error(code, &msg, buf);
            return Some(Transmit {
                dest: self.peer,
                len,
            });
        }
        None
    }

    pub(super) fn finished(&self) -> bool {
        self.outcome.is_some()
    }
}

pub(super) fn io_error(op: &'static str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            Error::Refused {
                code: ErrorCode::DiskFull,
                message: "Disk full or allocation exceeded".into(),
            }
        }
        _ => Error::io(op, e),
    }
}

/// The control packet a transfer retransmits on time-out.
#[derive(Debug, Clone)]
pub(super) enum Control {
    /// Client: the request bytes (RRQ/WRQ), sent to the server's listening port.
    Request(Vec<u8>),
    /// Server: the OACK.
    Oack(Options),
    /// Receiver: the ACK of block `index`.
    Ack(u64),
}

impl Control {
    pub(super) fn emit(&self, rollover: Rollover, buf: &mut [u8]) -> usize {
        let r = match self {
            Control::Request(b) => {
                if buf.len() < b.len() {
                    return 0;
                }
                buf[..b.len()].copy_from_slice(b);
                return b.len();
            }
            Control::Oack(o) => Packet::Oack(*o).emit(buf),
            Control::Ack(i) => Packet::Ack {
                block: rollover.wire(*i),
            }
            .emit(buf),
        };
        r.unwrap_or(0)
    }
}
