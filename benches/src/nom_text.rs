//! A `nom` grammar for iSCSI text data (RFC 7143 §6.1), benchmarked against
//! the hand-written [`netboot_iscsi::text::parse_text`] (bench
//! `iscsi/login/parse_text_libiscsi_nom`). Not used by the daemons: it is
//! slower and no clearer (README, "Dependencies").
//!
//! Same language as `parse_text`: entries end in NUL, empty entries are
//! skipped, a key is 1 to 63 of `A-Z a-z 0-9 . - + @ _`, a value is at most
//! [`MAX_VALUE_LEN`] bytes of UTF-8 without NUL. Like `parse_text` it does
//! not look for repeated keys: that is the negotiation's job, across all
//! PDUs of a login (`netboot_iscsi::Error::DuplicateKey`). Errors are
//! `ParseError::InvalidText`, as in `parse_text`, but carry no reason
//! beyond "malformed" (nom's default error only tells where it stopped).

use netboot_iscsi::text::{Pairs, MAX_KEY_LEN, MAX_VALUE_LEN};
use netboot_iscsi::ParseError;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while1};
use nom::combinator::{all_consuming, map, map_res, value as constant, verify};
use nom::multi::fold_many0;
use nom::sequence::{separated_pair, terminated};
use nom::{IResult, Parser};

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b".-+@_".contains(&c)
}

fn key(i: &[u8]) -> IResult<&[u8], &str> {
    map_res(
        verify(take_while1(is_key_char), |k: &[u8]| k.len() <= MAX_KEY_LEN),
        std::str::from_utf8,
    )
    .parse(i)
}

fn value(i: &[u8]) -> IResult<&[u8], &str> {
    map_res(
        verify(take_till(|b| b == 0), |v: &[u8]| v.len() <= MAX_VALUE_LEN),
        std::str::from_utf8,
    )
    .parse(i)
}

/// `key=value` NUL.
fn pair(i: &[u8]) -> IResult<&[u8], (&str, &str)> {
    terminated(separated_pair(key, tag(&b"="[..]), value), tag(&b"\0"[..])).parse(i)
}

/// Parses text data with nom; accepts and rejects what `parse_text` does.
pub fn parse_text_nom(data: &[u8]) -> Result<Pairs, ParseError> {
    let entries = fold_many0(
        alt((map(pair, Some), constant(None, tag(&b"\0"[..])))),
        Vec::new,
        |mut out: Pairs, p| {
            if let Some((k, v)) = p {
                out.push((k.to_string(), v.to_string()));
            }
            out
        },
    );
    match all_consuming(entries).parse(data) {
        Ok((_, pairs)) => Ok(pairs),
        Err(_) => Err(ParseError::InvalidText {
            reason: "malformed key=value text",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use netboot_iscsi::codec::PduDecoder;
    use netboot_iscsi::text::{encode_text, parse_text};
    use netboot_iscsi::wire::Bhs;
    use proptest::prelude::*;

    /// Both parsers: the same pairs, or both an error.
    fn agree(data: &[u8]) -> Result<(), TestCaseError> {
        match (parse_text(data), parse_text_nom(data)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "{data:?}: hand-written {a:?}, nom {b:?}"),
        }
        Ok(())
    }

    /// The login texts libiscsi sent to tgt (crates/iscsi/tests/data).
    #[test]
    fn agree_on_libiscsi_logins() {
        for stream in [
            &include_bytes!("../../crates/iscsi/tests/data/ls_discovery_initiator.bin")[..],
            &include_bytes!("../../crates/iscsi/tests/data/inquiry_initiator.bin")[..],
            &include_bytes!("../../crates/iscsi/tests/data/chap_inquiry_initiator.bin")[..],
        ] {
            let mut buf = BytesMut::from(stream);
            let mut dec = PduDecoder::new(1 << 18);
            let mut n = 0;
            while let Some(p) = dec.decode(&mut buf).unwrap() {
                if !matches!(p.header, Bhs::LoginRequest(_)) {
                    break;
                }
                let pairs = parse_text_nom(&p.data).unwrap();
                assert_eq!(pairs, parse_text(&p.data).unwrap());
                n += pairs.len();
            }
            assert!(n > 0);
        }
    }

    #[test]
    fn agree_on_edges() {
        let long_key = format!("{}=1\0", "k".repeat(MAX_KEY_LEN));
        let too_long_key = format!("{}=1\0", "k".repeat(MAX_KEY_LEN + 1));
        let long_value = format!("k={}\0", "v".repeat(MAX_VALUE_LEN));
        let too_long_value = format!("k={}\0", "v".repeat(MAX_VALUE_LEN + 1));
        for case in [
            &b""[..],
            b"\0\0\0",
            b"a=b",
            b"ab\0",
            b"=c\0",
            b"a b=c\0",
            b"a=\xff\0",
            b"\xff=a\0",
            b"a==b\0",
            b"SendTargets=\0",
            b"a=b\0\0c=d\0",
            "Ké=1\0".as_bytes(),
            "k=é\0".as_bytes(),
            long_key.as_bytes(),
            too_long_key.as_bytes(),
            long_value.as_bytes(),
            too_long_value.as_bytes(),
        ] {
            agree(case).unwrap();
        }
        assert!(parse_text_nom(too_long_key.as_bytes()).is_err());
        assert_eq!(parse_text_nom(b"a==b\0").unwrap()[0].1, "=b");
    }

    /// Text made of pieces that matter to the grammar, so that both valid
    /// and subtly invalid inputs come up.
    fn texty() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                Just(b"\0".to_vec()),
                Just(b"=".to_vec()),
                Just(b" ".to_vec()),
                Just(b"\xff".to_vec()),
                Just("é".as_bytes().to_vec()),
                "[A-Za-z0-9.+@_-]{1,70}".prop_map(String::into_bytes),
            ],
            0..16,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn agree_on_encoded_pairs(pairs in prop::collection::vec(("[A-Za-z0-9.+@_-]{1,63}", "[^\0]{0,40}"), 0..8)) {
            let data = encode_text(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            agree(&data)?;
            prop_assert_eq!(parse_text_nom(&data).unwrap(), pairs);
        }

        #[test]
        fn agree_on_pieces(data in texty()) {
            agree(&data)?;
        }

        #[test]
        fn agree_on_any_bytes(data in prop::collection::vec(any::<u8>(), 0..300)) {
            agree(&data)?;
        }
    }
}
