//! Fetch one file over TFTP with the async client.
//!
//! `cargo run -p netboot-examples --example tftp_get -- 127.0.0.1:69 pxelinux.0 [out]`

use netboot_tftp::client::{get, ClientOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: tftp_get SERVER:PORT FILE [OUTPUT]");
        std::process::exit(2);
    };
    let opts = ClientOptions {
        // RFC 7440 windows: many blocks per round trip.
        windowsize: Some(16),
        ..ClientOptions::default()
    };
    let data = get(server.parse()?, &file, &opts).await?;
    match args.next() {
        Some(out) => std::fs::write(out, &data)?,
        None => println!("{} bytes", data.len()),
    }
    Ok(())
}
