//! The `/batch` wire protocol: encoding requests, decoding answers.
//!
//! Request: `{"requests":[{"id":"1","method":"GET","url":"/api/games/1","headers":{...}}]}`.
//! Answer: `{"responses":[{"id":"1","status":200,"headers":{...},"body":...}]}` in
//! any order, or with `Accept: application/x-ndjson` one answer object per line.
//! The full protocol, with examples, is in `docs/batch-protocol.md`.

use super::json::{quote, JsonError, Scanner};

/// One item to put in a batch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutItem<'a> {
    /// The item's id, echoed by the server.
    pub id: String,
    /// Path and query (same origin as the endpoint) or absolute URL.
    pub url: &'a str,
    /// Headers for this item.
    pub headers: &'a [(String, String)],
}

/// The JSON body of a batch request.
pub fn encode_request(items: &[OutItem<'_>]) -> String {
    let mut out = String::from("{\"requests\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        out.push_str(&quote(&item.id));
        out.push_str(",\"method\":\"GET\",\"url\":");
        out.push_str(&quote(item.url));
        if !item.headers.is_empty() {
            out.push_str(",\"headers\":{");
            for (j, (n, v)) in item.headers.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str(&quote(n));
                out.push(':');
                out.push_str(&quote(v));
            }
            out.push('}');
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// How many bytes an item adds to a request (for `maxBytes`).
pub fn item_size<'h>(url: &str, headers: impl Iterator<Item = &'h (String, String)>) -> usize {
    48 + url.len() + headers.map(|(n, v)| n.len() + v.len() + 6).sum::<usize>()
}

/// One decoded answer. The body is raw JSON text for the shell to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The id of the item it answers.
    pub id: String,
    /// The item's HTTP status.
    pub status: u16,
    /// The item's response headers.
    pub headers: Vec<(String, String)>,
    /// The raw JSON body, if any.
    pub body: Option<&'a str>,
}

impl Answer<'_> {
    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One element of an answer list: an answer, or an object that is not one
/// (no usable id or status), which the engine counts and ignores.
pub type Decoded<'a> = Result<Answer<'a>, &'static str>;

/// Decode one answer object at the scanner's position.
fn answer<'a>(s: &mut Scanner<'a>) -> Result<Decoded<'a>, JsonError> {
    let mut id = None;
    let mut status = None;
    let mut headers = Vec::new();
    let mut body = None;
    let mut problem = None;
    s.object(|s, key| {
        match key.as_str() {
            "id" => {
                let raw = s.raw_value()?;
                let mut inner = Scanner::new(raw);
                id = match inner.string() {
                    Ok(v) => Some(v),
                    // Be lenient with servers that echo numeric ids as numbers.
                    Err(_) => Scanner::new(raw)
                        .whole()
                        .ok()
                        .flatten()
                        .map(|n| n.to_string()),
                };
            }
            "status" => {
                let raw = s.raw_value()?;
                status = Scanner::new(raw)
                    .whole()
                    .ok()
                    .flatten()
                    .filter(|n| (100..=599).contains(n))
                    .map(|n| n as u16);
                if status.is_none() {
                    problem = Some("an answer's status is not an HTTP status");
                }
            }
            "headers" => {
                if !s.null() {
                    s.object(|s, name| {
                        let raw = s.raw_value()?;
                        if let Ok(v) = Scanner::new(raw).string() {
                            headers.push((name, v));
                        }
                        Ok(())
                    })?;
                }
            }
            "body" => body = Some(s.raw_value()?),
            _ => {
                s.raw_value()?;
            }
        }
        Ok(())
    })?;
    Ok(match (id, status, problem) {
        (_, _, Some(p)) => Err(p),
        (None, _, _) => Err("an answer has no id"),
        (_, None, _) => Err("an answer has no status"),
        (Some(id), Some(status), None) => Ok(Answer {
            id,
            status,
            headers,
            body,
        }),
    })
}

/// Decode a whole plain answer: `{"responses":[...]}`.
pub fn decode_envelope(text: &str) -> Result<Vec<Decoded<'_>>, JsonError> {
    let mut s = Scanner::new(text);
    let mut items = None;
    s.object(|s, key| {
        if key == "responses" {
            let mut list = Vec::new();
            s.array(|s| {
                list.push(answer(s)?);
                Ok(())
            })?;
            items = Some(list);
        } else {
            s.raw_value()?;
        }
        Ok(())
    })?;
    if !s.at_end() {
        return Err(JsonError {
            at: text.len(),
            what: "text after the answer object",
        });
    }
    items.ok_or(JsonError {
        at: 0,
        what: "no `responses` array",
    })
}

/// Decode one NDJSON line.
pub fn decode_line(line: &str) -> Result<Decoded<'_>, JsonError> {
    let mut s = Scanner::new(line);
    let a = answer(&mut s)?;
    if !s.at_end() {
        return Err(JsonError {
            at: line.len(),
            what: "text after the answer object",
        });
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_shape() {
        let h = vec![("If-None-Match".to_string(), "\"abc\"".to_string())];
        let body = encode_request(&[
            OutItem {
                id: "1".into(),
                url: "/api/games/1",
                headers: &h,
            },
            OutItem {
                id: "2".into(),
                url: "/api/user",
                headers: &[],
            },
        ]);
        assert_eq!(
            body,
            r#"{"requests":[{"id":"1","method":"GET","url":"/api/games/1","headers":{"If-None-Match":"\"abc\""}},{"id":"2","method":"GET","url":"/api/user"}]}"#
        );
    }

    #[test]
    fn decodes_answers_in_any_order_and_keeps_bodies_raw() {
        let text = r#"{"responses":[
            {"id":"2","status":404,"body":{"error":"nope"}},
            {"id":"1","status":200,"headers":{"ETag":"\"abd\"","X-N":5},"body":{"a":[1,2]}},
            {"id":3,"status":304},
            {"status":200},
            {"id":"9","status":"ok"}
        ],"extra":true}"#;
        let items = decode_envelope(text).unwrap();
        assert_eq!(items.len(), 5);
        let a1 = items[1].as_ref().unwrap();
        assert_eq!(a1.id, "1");
        assert_eq!(a1.body, Some(r#"{"a":[1,2]}"#));
        assert_eq!(a1.header("etag"), Some("\"abd\""));
        assert_eq!(a1.headers.len(), 1, "non-string header values are dropped");
        assert_eq!(items[0].as_ref().unwrap().status, 404);
        assert_eq!(items[2].as_ref().unwrap().id, "3");
        assert_eq!(items[2].as_ref().unwrap().body, None);
        assert_eq!(items[3], Err("an answer has no id"));
        assert_eq!(items[4], Err("an answer's status is not an HTTP status"));
    }

    #[test]
    fn refuses_broken_envelopes() {
        assert!(decode_envelope("<html>oops</html>").is_err());
        assert!(
            decode_envelope(r#"{"responses":[{"id":"1","status":200,"bo"#)
                .unwrap_err()
                .what
                .contains("truncated")
        );
        assert_eq!(
            decode_envelope(r#"{"answers":[]}"#).unwrap_err().what,
            "no `responses` array"
        );
        assert!(decode_envelope(r#"{"responses":[]} x"#).is_err());
        assert!(decode_line(r#"{"id":"1","status":200,"body":{"a":"#).is_err());
        assert_eq!(
            decode_line(r#"{"id":"1","status":200,"body":null}"#)
                .unwrap()
                .unwrap()
                .body,
            Some("null")
        );
    }
}
