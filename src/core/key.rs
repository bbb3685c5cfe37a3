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
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme(u) => write!(f, "`{u}` is not an http: or https: URL"),
            UrlError::NoHost(u) => write!(f, "`{u}` has no host"),
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
    let (base, query) = match without_fragment.find('?') {
        Some(i) => (&without_fragment[..i], &without_fragment[i + 1..]),
        None => (without_fragment, ""),
    };
    let mut out = String::with_capacity(without_fragment.len());
    out.push_str(&base[..lower_scheme_len].to_ascii_lowercase());
    out.push_str(&base[lower_scheme_len..]);
    // A binary insertion sort: stable (each parameter goes after the ones
    // of the same name already placed), and far less code than `sort_by`.
    let mut params: Vec<&str> = Vec::new();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        let at = params.partition_point(|q| param_name(q) <= param_name(p));
        params.insert(at, p);
    }
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
        let auth = identity.authorization.as_deref().unwrap_or("");
        let part = identity.partition.as_deref().unwrap_or("");
        Key(format!(
            "{url}{SEP}GET{SEP}{}{SEP}{}{SEP}{}{SEP}{}",
            identity.credentials.as_str(),
            auth.len(),
            auth,
            part
        ))
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
        let keys = [&alice, &bob, &anon, &include, &part].map(|i| Key::get(url, i));
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
