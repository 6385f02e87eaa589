//! Raw `AF_PACKET` sockets for AoE frames.
//!
//! This is the only module with `unsafe` code: the `libc` calls that have no
//! safe wrapper in `socket2`/`nix` for packet sockets (binding a
//! `sockaddr_ll`, `PACKET_FANOUT`, `recvmmsg`/`sendmmsg`). Each block says
//! why it is sound.

#![allow(unsafe_code)]
#![allow(dead_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use netboot_aoe::wire::ETHERTYPE_AOE;

/// A packet socket bound to one interface and the AoE ethertype.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt_int(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` lives for the call and its size is passed; the fd is
    // open (owned by the caller).
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    cvt(r).map(|_| ())
}

impl PacketSocket {
    /// Opens a raw packet socket on interface `index` for ethertype 0x88A2.
    pub fn open(index: i32) -> io::Result<PacketSocket> {
        let proto = ETHERTYPE_AOE.to_be();
        // SAFETY: plain system call with constant arguments.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                proto.into(),
            )
        })?;
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = index;
        // SAFETY: `sll` is a valid sockaddr_ll and its exact size is passed.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        let s = PacketSocket { fd };
        // Do not see our own transmissions (Linux >= 4.20); harmless if
        // unsupported, the state machines ignore their own frames anyway.
        let _ = setsockopt_int(&s.fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);
        Ok(s)
    }

    /// Joins a load-balancing fanout group: frames are spread over the
    /// group's sockets instead of copied to each. The group's hook ignores
    /// outgoing frames (PACKET_IGNORE_OUTGOING does not apply to fanout
    /// groups); kernels before 4.20 refuse the flag, then we join without it.
    pub fn join_fanout(&self, group: u16) -> io::Result<()> {
        // PACKET_FANOUT_FLAG_IGNORE_OUTGOING (linux/if_packet.h).
        const IGNORE_OUTGOING: i32 = 0x4000;
        let lb = libc::PACKET_FANOUT_LB as i32;
        let v = i32::from(group) | ((lb | IGNORE_OUTGOING) << 16);
        setsockopt_int(&self.fd, libc::SOL_PACKET, libc::PACKET_FANOUT, v).or_else(|_| {
            setsockopt_int(
                &self.fd,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                i32::from(group) | (lb << 16),
            )
        })
    }

    /// Sends straight to the device, past the egress queueing discipline
    /// (`PACKET_QDISC_BYPASS`, Linux >= 3.14): less work per frame; frames
    /// the device refuses are dropped instead of queued (AoE retransmits).
    pub fn set_qdisc_bypass(&self) -> io::Result<()> {
        setsockopt_int(&self.fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)
    }

    /// Sets receive and send buffer sizes (forced past rmem_max as root).
    pub fn set_buffers(&self, bytes: usize) {
        let b = bytes.min(i32::MAX as usize) as i32;
        if setsockopt_int(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, b).is_err() {
            let _ = setsockopt_int(&self.fd, libc::SOL_SOCKET, libc::SO_RCVBUF, b);
        }
        if setsockopt_int(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, b).is_err() {
            let _ = setsockopt_int(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUF, b);
        }
    }

    /// Waits up to `timeout_ms` (-1: forever) until a frame can be read.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match cvt(unsafe { libc::poll(&mut p, 1, timeout_ms) }) {
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads up to `bufs.len()` frames without blocking; stores each length
    /// in `lens` and returns how many were read (0 if none was waiting).
    pub fn recv_batch(&self, bufs: &mut [Vec<u8>], lens: &mut [usize]) -> io::Result<usize> {
        let n = bufs.len().min(lens.len());
        let mut iovs: Vec<libc::iovec> = bufs[..n]
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; all-zero is valid (no name, no
        // control data).
        let mut msgs: Vec<libc::mmsghdr> = (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: each header points at one iovec that points at a live,
        // exclusively borrowed buffer of the stated length; the vectors
        // outlive the call.
        let r = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let r = r as usize;
        for (len, m) in lens.iter_mut().zip(&msgs[..r]) {
            *len = m.msg_len as usize;
        }
        Ok(r)
    }

    /// Sends frames with one system call where possible; returns how many
    /// were sent. Frames the kernel refuses are skipped (and counted as
    /// sent): AoE recovers lost frames by retransmission.
    pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        let mut done = 0;
        while done < frames.len() {
            let rest = &frames[done..];
            let mut iovs: Vec<libc::iovec> = rest
                .iter()
                .map(|f| libc::iovec {
                    iov_base: f.as_ptr() as *mut libc::c_void,
                    iov_len: f.len(),
                })
                .collect();
            // SAFETY: as in recv_batch; all-zero mmsghdr is valid.
            let mut msgs: Vec<libc::mmsghdr> = (0..rest.len())
                .map(|_| unsafe { std::mem::zeroed() })
                .collect();
            for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: each header points at one iovec describing a live
            // frame; the kernel only reads from them for sendmmsg.
            let r = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    rest.len() as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // Queue full: wait a moment, then retry.
                    Some(libc::ENOBUFS) | Some(libc::EAGAIN) => {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                        continue;
                    }
                    _ if done == 0 => return Err(e),
                    _ => {
                        // Skip the frame that failed.
                        done += 1;
                        continue;
                    }
                }
            }
            done += r.max(1) as usize;
        }
        Ok(done)
    }

    /// Sends one frame.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_batch(&[frame]).map(|_| ())
    }
}
