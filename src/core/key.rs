//! Request identity: URL normalisation and the dedup/cache key.
//!
//! The shell resolves a user's URL against `baseUrl` with the platform's own
//! `URL` parser (so percent-encoding, default ports and dot segments follow
//! the WHATWG rules) and hands the core an absolute URL. The core then makes
//! the parts that do not change the answer canonical: the fragment goes, and
//! query parameters are sorted by name (a stable sort, so repeated names keep
//! their order: `a=2&a=1` and `a=1&a=2` stay distinct requests).
//!
//! The key adds the credential-bearing parts of the request, so two callers
//! with different credentials never share a cache entry or a flight.

use std::fmt;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// The URL is not absolute `http:` or `https:`.
    Scheme(String),
    /// The URL has no host after the scheme.
    NoHost(String),
    /// The URL carries a user name or password (`user:pass@host`). The
    /// error never repeats them.
    Userinfo,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme(u) => write!(f, "`{u}` is not an http: or https: URL"),
            UrlError::NoHost(u) => write!(f, "`{u}` has no host"),
            UrlError::Userinfo => f.write_str(
                "a URL with a user name or password (`user:pass@host`) is refused; \
                 send credentials in headers",
            ),
        }
    }
}

/// Normalise an absolute URL: drop the fragment, sort the query by name.
///
/// ```
/// use calmfetch::core::key::normalize_url;
/// assert_eq!(
///     normalize_url("https://a.test/x?b=2&a=1#top").unwrap(),
///     "https://a.test/x?a=1&b=2"
/// );
/// ```
pub fn normalize_url(url: &str) -> Result<String, UrlError> {
    let lower_scheme_len = if starts_with_ignore_case(url, "https://") {
        8
    } else if starts_with_ignore_case(url, "http://") {
        7
    } else {
        return Err(UrlError::Scheme(truncate(url)));
    };
    let without_fragment = match url.find('#') {
        Some(i) => &url[..i],
        None => url,
    };
    let rest = &without_fragment[lower_scheme_len..];
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
        return Err(UrlError::NoHost(truncate(url)));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    if authority.contains('@') {
        return Err(UrlError::Userinfo);
    }
    let (base, query) = match without_fragment.find('?') {
        Some(i) => (&without_fragment[..i], &without_fragment[i + 1..]),
        None => (without_fragment, ""),
    };
    let mut out = String::with_capacity(without_fragment.len());
    out.push_str(&base[..lower_scheme_len].to_ascii_lowercase());
    out.push_str(&base[lower_scheme_len..]);
    let params = sort_by_name(query.split('&').filter(|p| !p.is_empty()).collect());
    for (i, p) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(p);
    }
    Ok(out)
}

/// Does `hay` contain `needle`? (A plain scan: `str::contains` with a
/// string pattern brings in the Two-Way searcher, a few KB of wasm.)
pub fn contains(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len().max(1))
        .any(|w| w == needle.as_bytes())
}

/// Does a `Cache-Control` value say `no-store`?
pub fn no_store(cache_control: &str) -> bool {
    contains(&cache_control.to_ascii_lowercase(), "no-store")
}

/// Query parameters sorted by name, stable (repeated names keep their
/// order: `a=2&a=1` and `a=1&a=2` stay distinct requests), in O(n log n): a
/// bottom-up merge sort, a few hundred bytes of wasm where the standard
/// library's sorts cost kilobytes.
fn sort_by_name(mut v: Vec<&str>) -> Vec<&str> {
    let n = v.len();
    let mut buf: Vec<&str> = Vec::with_capacity(n);
    let mut width = 1;
    while width < n {
        buf.clear();
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            while i < mid && j < end {
                // `<=` takes from the left run on ties: stable.
                if param_name(v[i]) <= param_name(v[j]) {
                    buf.push(v[i]);
                    i += 1;
                } else {
                    buf.push(v[j]);
                    j += 1;
                }
            }
            buf.extend_from_slice(&v[i..mid]);
            buf.extend_from_slice(&v[j..end]);
            start = end;
        }
        std::mem::swap(&mut v, &mut buf);
        width *= 2;
    }
    v
}

/// A length in decimal (no `format!`: its machinery costs wasm bytes).
fn push_len(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| d as char));
}

fn param_name(p: &str) -> &str {
    p.split('=').next().unwrap_or(p)
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Keep error messages short when somebody passes a huge string.
fn truncate(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `fetch`'s credentials mode; part of the key because it decides whether
/// cookies go with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Credentials {
    /// Cookies only to the same origin (the `fetch` default).
    #[default]
    SameOrigin,
    /// Cookies to every origin.
    Include,
    /// Never send cookies.
    Omit,
}

impl Credentials {
    /// Parse the `fetch` spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "same-origin" => Some(Self::SameOrigin),
            "include" => Some(Self::Include),
            "omit" => Some(Self::Omit),
            _ => None,
        }
    }

    /// The `fetch` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SameOrigin => "same-origin",
            Self::Include => "include",
            Self::Omit => "omit",
        }
    }
}

/// Everything that decides whose answer a request gets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Identity {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The credentials mode.
    pub credentials: Credentials,
    /// An app-chosen partition (for example a user id) for cookie sessions.
    pub partition: Option<String>,
    /// Other headers that say who the user is (`Cookie`,
    /// `Proxy-Authorization`, and those the app names, such as
    /// `X-Api-Key`): lower-case names, sorted, each sent with the request.
    pub secrets: Vec<(String, String)>,
}

impl Identity {
    /// Every credential header to send: `Authorization`, then the others.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.authorization
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .chain(self.secrets.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }

    /// Is `name` one of this identity's credential headers (or
    /// `Authorization`)?
    pub fn is_credential(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("authorization")
            || self
                .secrets
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// The key of a request: method, normalised absolute URL and identity.
///
/// It starts with the URL, so prefix invalidation can match on it directly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

const SEP: char = '\u{1f}';

impl Key {
    /// Build the key of a GET of `url` (already normalised) by `identity`.
    pub fn get(url: &str, identity: &Identity) -> Key {
        // Every part after the URL is preceded by its length, so no value,
        // whatever it contains, can pass for another identity.
        let mut k = String::with_capacity(url.len() + 32);
        k.push_str(url);
        k.push(SEP);
        k.push_str("GET");
        k.push(SEP);
        k.push_str(identity.credentials.as_str());
        let auth = identity.authorization.as_deref();
        let part = identity.partition.as_deref();
        for field in [auth, part].into_iter().chain(
            identity
                .secrets
                .iter()
                .flat_map(|(n, v)| [Some(n.as_str()), Some(v.as_str())]),
        ) {
            k.push(SEP);
            match field {
                None => k.push('-'),
                Some(f) => {
                    push_len(&mut k, f.len());
                    k.push(':');
                    k.push_str(f);
                }
            }
        }
        Key(k)
    }

    /// The URL part of the key.
    pub fn url(&self) -> &str {
        self.0.split(SEP).next().unwrap_or("")
    }

    /// The whole key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does this key's URL fall under `prefix` (itself a normalised URL)?
    ///
    /// A prefix matches the URL itself, and URLs that continue it at a path
    /// or query boundary: `/api/games/1` covers `/api/games/1/players` and
    /// `/api/games/1?x=2` but not `/api/games/10`. A prefix that ends in `/`
    /// covers everything below it.
    pub fn url_under(&self, prefix: &str) -> bool {
        let url = self.url();
        match url.strip_prefix(prefix) {
            None => false,
            Some("") => true,
            Some(rest) => prefix.ends_with('/') || rest.starts_with('/') || rest.starts_with('?'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_query_and_drops_fragment() {
        assert_eq!(
            normalize_url("http://h.test/p?z=1&a=2&m=3#f").unwrap(),
            "http://h.test/p?a=2&m=3&z=1"
        );
        assert_eq!(
            normalize_url("http://h.test/p?#f").unwrap(),
            "http://h.test/p"
        );
        assert_eq!(
            normalize_url("HTTPS://h.test/p").unwrap(),
            "https://h.test/p"
        );
    }

    #[test]
    fn repeated_names_keep_their_order() {
        assert_eq!(
            normalize_url("http://h.test/?b=1&a=2&a=1").unwrap(),
            "http://h.test/?a=2&a=1&b=1"
        );
        assert_ne!(
            normalize_url("http://h.test/?a=2&a=1").unwrap(),
            normalize_url("http://h.test/?a=1&a=2").unwrap()
        );
    }

    #[test]
    fn refuses_other_schemes_and_missing_hosts() {
        assert!(matches!(
            normalize_url("ftp://x/y"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            normalize_url("/relative"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(
            normalize_url("http:///p"),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(normalize_url("http://"), Err(UrlError::NoHost(_))));
        let long = format!("javascript:{}", "x".repeat(1000));
        let msg = normalize_url(&long).unwrap_err().to_string();
        assert!(msg.len() < 260, "{msg}");
    }

    #[test]
    fn identity_separates_keys() {
        let url = "http://h.test/api/user";
        let alice = Identity {
            authorization: Some("Bearer alice".into()),
            ..Default::default()
        };
        let bob = Identity {
            authorization: Some("Bearer bob".into()),
            ..Default::default()
        };
        let anon = Identity::default();
        let include = Identity {
            credentials: Credentials::Include,
            ..Default::default()
        };
        let part = Identity {
            partition: Some("u1".into()),
            ..Default::default()
        };
        let cookie = |c: &str| Identity {
            secrets: vec![("cookie".into(), c.into())],
            ..Default::default()
        };
        let (c1, c2) = (cookie("sid=alice"), cookie("sid=bob"));
        let keys = [&alice, &bob, &anon, &include, &part, &c1, &c2].map(|i| Key::get(url, i));
        for (i, a) in keys.iter().enumerate() {
            assert_eq!(a.url(), url);
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // A separator inside a credential cannot forge another identity.
        let tricky = Identity {
            authorization: Some(format!("x{SEP}y")),
            ..Default::default()
        };
        let other = Identity {
            authorization: Some("x".into()),
            partition: Some("y".into()),
            ..Default::default()
        };
        assert_ne!(Key::get(url, &tricky), Key::get(url, &other));
        let empty_auth = Identity {
            authorization: Some(String::new()),
            ..Default::default()
        };
        assert_ne!(Key::get(url, &empty_auth), Key::get(url, &anon));
    }

    #[test]
    fn refuses_user_and_password_without_repeating_them() {
        for u in [
            "http://user:s3cret@h.test/p",
            "https://s3cret@h.test",
            "http://u:s3cret@h.test?x=1",
        ] {
            let e = normalize_url(u).unwrap_err();
            assert_eq!(e, UrlError::Userinfo);
            assert!(!e.to_string().contains("s3cret"));
        }
        // An `@` in the path or query is not userinfo.
        assert!(normalize_url("http://h.test/a@b?c=d@e").is_ok());
    }

    #[test]
    fn sorting_many_parameters_is_not_quadratic() {
        // 200,000 parameters: an insertion sort makes ~10^10 moves here,
        // the sort in use ~4 million comparisons.
        let n = 200_000;
        let query: Vec<String> = (0..n).rev().map(|i| format!("p{i}=1")).collect();
        let url = format!("http://h.test/?{}&p5=2", query.join("&"));
        let out = normalize_url(&url).unwrap();
        assert!(out.starts_with("http://h.test/?p0=1&p1=1&p10=1"));
        assert!(
            out.contains("&p5=1&p5=2&"),
            "repeated names keep their order"
        );
    }

    #[test]
    fn prefix_matches_on_boundaries() {
        let k = |u: &str| Key::get(u, &Identity::default());
        let p = "http://h.test/api/games/1";
        assert!(k("http://h.test/api/games/1").url_under(p));
        assert!(k("http://h.test/api/games/1/players").url_under(p));
        assert!(k("http://h.test/api/games/1?x=2").url_under(p));
        assert!(!k("http://h.test/api/games/10").url_under(p));
        assert!(k("http://h.test/api/games/10").url_under("http://h.test/api/games/"));
        assert!(!k("http://h.test/api/gamesx").url_under("http://h.test/api/games/"));
    }
}
