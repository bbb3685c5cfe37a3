//! Bounded fuzzing of every decoder that reads bytes from the network or the
//! user: the batch answer (plain and NDJSON), socket messages, the URL
//! normaliser and the `Retry-After` parser. None may panic, whatever it is
//! given; the shell relies on that, since a wasm panic poisons the client.
//!
//! Inputs come from three generators: arbitrary Unicode, a soup of JSON
//! tokens (which reaches deep into the parsers far more often than random
//! text), and well-formed answers cut short or with one byte changed.
#![cfg(not(target_arch = "wasm32"))]

use calmfetch::core::batch::{decode_envelope, decode_line};
use calmfetch::core::json::Scanner;
use calmfetch::core::key::normalize_url;
use calmfetch::core::retry::parse_retry_after;
use calmfetch::core::socket_msg;
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    " ",
    "\n",
    "\"",
    "\\",
    "\"id\"",
    "\"responses\"",
    "\"status\"",
    "\"body\"",
    "\"headers\"",
    "\"type\"",
    "\"key\"",
    "\"data\"",
    "\"error\"",
    "\"message\"",
    "\"1\"",
    "\"2\"",
    "1",
    "200",
    "304",
    "-0",
    "1e999",
    "-1.5e-7",
    "18446744073709551616",
    "0.",
    "01",
    "null",
    "true",
    "false",
    "nul",
    "\"\\u00e9\"",
    "\"\\ud800\"",
    "\"\\udc00x\"",
    "\"\\u12\"",
    "\"\\q\"",
    "\"é\"",
    "\u{0}",
    "\u{feff}",
    "\"ETag\"",
    "\"\\\"abc\\\"\"",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.concat())
}

const GOOD_ENVELOPE: &str = r#"{"responses":[{"id":"1","status":200,"headers":{"ETag":"\"a\""},"body":{"x":[1,2.5,"é",null,true]}},{"id":"2","status":304,"headers":{}},{"id":"3","status":500,"body":"oops"}]}"#;
const GOOD_LINE: &str =
    r#"{"id":"7","status":200,"headers":{"Content-Type":"application/json"},"body":{"n":1}}"#;
const GOOD_SOCKET: &str = r#"{"type":"data","key":"/api/games/1","body":{"score":[1,2]}}"#;

/// A well-formed text cut at `cut` and with the byte at `flip` replaced.
fn damaged(good: &'static str) -> impl Strategy<Value = String> {
    (0..=good.len(), 0..good.len(), any::<u8>()).prop_map(move |(cut, flip, byte)| {
        let mut bytes = good.as_bytes()[..cut].to_vec();
        if flip < bytes.len() {
            bytes[flip] = byte;
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn inputs(good: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), soup(), damaged(good)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn batch_envelope_decoder_never_panics(text in inputs(GOOD_ENVELOPE)) {
        let _ = decode_envelope(&text);
    }

    #[test]
    fn batch_line_decoder_never_panics(text in inputs(GOOD_LINE)) {
        let _ = decode_line(&text);
    }

    #[test]
    fn socket_decoder_never_panics(text in inputs(GOOD_SOCKET)) {
        let _ = socket_msg::decode(&text);
    }

    #[test]
    fn json_scanner_never_panics(text in inputs(GOOD_ENVELOPE)) {
        let mut s = Scanner::new(&text);
        let _ = s.raw_value();
        let _ = Scanner::new(&text).string();
        let _ = Scanner::new(&text).whole();
    }

    #[test]
    fn url_normaliser_never_panics_and_is_idempotent(
        url in prop_oneof![
            any::<String>(),
            ("(?i)https?://", "[a-zA-Z0-9.:@\\[\\]%-]{0,20}", "[/a-zA-Z0-9%?&=#;+é.-]{0,40}")
                .prop_map(|(a, b, c)| format!("{a}{b}{c}")),
        ]
    ) {
        if let Ok(once) = normalize_url(&url) {
            prop_assert_eq!(normalize_url(&once), Ok(once.clone()), "normalising twice changed {}", url);
        }
    }

    #[test]
    fn retry_after_parser_never_panics(
        value in prop_oneof![
            any::<String>(),
            "[0-9]{0,25}",
            "(Mon|Tue|Sun|Xyz), [0-9]{1,3} (Jan|Feb|Dec|Foo) [0-9]{1,5} [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2} (GMT|UTC)",
        ],
        now in any::<u64>(),
    ) {
        let _ = parse_retry_after(&value, now);
    }
}

#[test]
fn deeply_nested_bodies_are_read_without_overflowing_the_stack() {
    // An item body is the app's data, nested as deep as it likes: the
    // envelope is walked with a loop, so the item is read (and handed to the
    // platform's JSON.parse) instead of breaking the whole batch answer.
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let body = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        let envelope = format!(
            r#"{{"responses":[{{"id":"1","status":200,"body":{body}}},{{"id":"2","status":200,"body":7}}]}}"#
        );
        let items = decode_envelope(&envelope).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().body, Some(body.as_str()));
        assert_eq!(items[1].as_ref().unwrap().body, Some("7"));
        let line = format!(r#"{{"id":"1","status":200,"body":{body}}}"#);
        assert!(decode_line(&line).is_ok());
        let msg = format!(r#"{{"type":"data","key":"/k","body":{body}}}"#);
        assert!(socket_msg::decode(&msg).is_ok());
        // Cut short, it is an error, not a crash.
        let cut = &envelope[..envelope.len() / 2];
        assert!(decode_envelope(cut).is_err());
    }
}

#[test]
fn the_well_formed_seeds_decode() {
    // The damaged inputs start from these: they must be valid, or the
    // generator would only ever test the error paths.
    assert_eq!(decode_envelope(GOOD_ENVELOPE).unwrap().len(), 3);
    assert!(decode_line(GOOD_LINE).is_ok());
    assert!(socket_msg::decode(GOOD_SOCKET).is_ok());
}
