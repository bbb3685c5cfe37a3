//! The socket protocol's messages.
//!
//! Client to server: `{"type":"subscribe","key":"/api/games/1"}` and
//! `{"type":"unsubscribe","key":...}`. Server to client:
//! `{"type":"data","key":...,"body":...}` and
//! `{"type":"error","key":...,"message":...}`. See `docs/socket-protocol.md`.

use super::json::{quote, Scanner};

/// A message from the server. Bodies stay raw JSON text for the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg<'a> {
    /// New data for a key.
    Data {
        /// The key (path and query).
        key: String,
        /// The raw JSON body.
        body: &'a str,
    },
    /// The server could not serve a key.
    Error {
        /// The key.
        key: String,
        /// Why.
        message: String,
    },
}

/// Decode one server message. `Err` says why it is malformed.
pub fn decode(text: &str) -> Result<ServerMsg<'_>, String> {
    let mut s = Scanner::new(text);
    let (mut kind, mut key, mut body, mut message) = (None, None, None, None);
    s.object(|s, name| {
        match name.as_str() {
            "type" => kind = Scanner::new(s.raw_value()?).string().ok(),
            "key" => key = Scanner::new(s.raw_value()?).string().ok(),
            "message" => message = Scanner::new(s.raw_value()?).string().ok(),
            "body" => body = Some(s.raw_value()?),
            _ => {
                s.raw_value()?;
            }
        }
        Ok(())
    })
    .map_err(|e| format!("not a JSON object ({e})"))?;
    if !s.at_end() {
        return Err("text after the message object".into());
    }
    let key = key.ok_or("no string `key`")?;
    match kind.as_deref() {
        Some("data") => Ok(ServerMsg::Data {
            key,
            body: body.ok_or("a data message without `body`")?,
        }),
        Some("error") => Ok(ServerMsg::Error {
            key,
            message: message.unwrap_or_else(|| "error".into()),
        }),
        Some(other) => Err(format!("unknown message type `{other}`")),
        None => Err("no string `type`".into()),
    }
}

/// `{"type":"subscribe","key":...}` or `unsubscribe`.
pub fn encode(subscribe: bool, key: &str) -> String {
    let kind = if subscribe {
        "subscribe"
    } else {
        "unsubscribe"
    };
    format!("{{\"type\":\"{kind}\",\"key\":{}}}", quote(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        assert_eq!(
            encode(true, "/api/games/1"),
            r#"{"type":"subscribe","key":"/api/games/1"}"#
        );
        assert_eq!(
            decode(r#"{"type":"data","key":"/a","body":{"x":[1]}}"#),
            Ok(ServerMsg::Data {
                key: "/a".into(),
                body: r#"{"x":[1]}"#
            })
        );
        assert_eq!(
            decode(r#"{"key":"/a","type":"error","message":"no such key"}"#),
            Ok(ServerMsg::Error {
                key: "/a".into(),
                message: "no such key".into()
            })
        );
        for bad in [
            "hello",
            "{\"type\":\"data\",\"key\":\"/a\"}",
            "{\"type\":\"data\",\"body\":1}",
            "{\"type\":\"ping\",\"key\":\"/a\"}",
            "{\"type\":\"data\",\"key\":\"/a\",\"body\":",
            "[1]",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
