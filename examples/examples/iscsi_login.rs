//! An iSCSI login with mutual CHAP between the initiator and target state
//! machines, in memory: no sockets, no runtime. The same two values run
//! over TCP in `iscsid` and in a Rust initiator.
//!
//! `cargo run -p netboot-examples --example iscsi_login`

use std::sync::Arc;

use bytes::BytesMut;
use netboot_iscsi::codec::PduDecoder;
use netboot_iscsi::login::{
    Credentials, InitiatorConfig, InitiatorLogin, LoginState, TargetConfig, TargetEntry,
    TargetLogin,
};
use netboot_iscsi::wire::{Digests, Pdu};

fn creds(user: &str, secret: &str) -> Credentials {
    Credentials {
        username: user.into(),
        secret: secret.as_bytes().to_vec(),
    }
}

fn main() {
    let target_name = "iqn.2026-11.org.example:disk0";
    let config = Arc::new(TargetConfig {
        targets: vec![TargetEntry {
            name: target_name.into(),
            chap: Some(creds("pc1", "initiator-secret")),
            mutual_chap: Some(creds("disk0", "target-secret")),
            ..TargetEntry::default()
        }],
        ..TargetConfig::default()
    });
    let mut target = TargetLogin::new(config, 1);
    let mut ini_cfg = InitiatorConfig::new("iqn.2026-11.org.example:pc1", Some(target_name.into()));
    ini_cfg.chap = Some(creds("pc1", "initiator-secret"));
    ini_cfg.mutual_chap = Some(creds("disk0", "target-secret"));
    let mut initiator = InitiatorLogin::new(ini_cfg);

    // Carry each PDU through its wire form, as TCP would.
    let carry = |pdu: &Pdu| {
        let mut buf = BytesMut::new();
        pdu.emit(&mut buf, Digests::default()).expect("emit");
        PduDecoder::default()
            .decode(&mut buf)
            .expect("decode")
            .expect("one PDU")
    };
    let mut request = initiator.start();
    let mut rounds = 1;
    while let Some(next) = initiator
        .handle(&carry(&target.handle(&carry(&request))))
        .expect("login")
    {
        request = next;
        rounds += 1;
    }
    assert_eq!(target.state(), LoginState::FullFeature);
    let result = initiator.result().expect("logged in");
    println!("logged in after {rounds} exchanges, TSIH {}", result.tsih);
    println!(
        "negotiated: MaxBurstLength={} FirstBurstLength={} ImmediateData={} InitialR2T={}",
        result.params.max_burst_length,
        result.params.first_burst_length,
        result.params.immediate_data,
        result.params.initial_r2t
    );
}
