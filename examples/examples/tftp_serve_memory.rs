//! A minimal TFTP server that serves one in-memory file, built directly on
//! the sans-IO transfer state machine: parse the request, create a
//! `SendTransfer`, and drive it on its own socket.
//!
//! `cargo run -p netboot-examples --example tftp_serve_memory -- 127.0.0.1:6969`
//! then `curl tftp://127.0.0.1:6969/hello.txt`.

use netboot_tftp::client::drive_to_end;
use netboot_tftp::transfer::{SendTransfer, ServerConfig};
use netboot_tftp::wire::{emit_error, ErrorCode, Packet};
use tokio::net::UdpSocket;

const FILE: &[u8] = b"Hello from netboot-tftp!\n";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6969".into());
    let listener = UdpSocket::bind(&addr).await?;
    println!("serving hello.txt on {}", listener.local_addr()?);
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, client) = listener.recv_from(&mut buf).await?;
        let Ok(Packet::Rrq(req)) = Packet::parse(&buf[..n]) else {
            continue;
        };
        // Each transfer gets its own socket: its transfer ID.
        let sock = UdpSocket::bind((listener.local_addr()?.ip(), 0)).await?;
        if req.filename.trim_start_matches('/') != "hello.txt" {
            let mut e = [0u8; 64];
            let len = emit_error(ErrorCode::FileNotFound, "File not found", &mut e);
            sock.send_to(&e[..len], client).await?;
            continue;
        }
        let mut t = SendTransfer::server(
            client,
            &req,
            FILE,
            Some(FILE.len() as u64),
            &ServerConfig::default(),
        );
        tokio::spawn(async move {
            let r = drive_to_end(&sock, &mut t).await;
            println!("{client}: {r:?}");
        });
    }
}
