//! Reading and validating the options users pass from JS.
//!
//! Every option is checked: unknown names, wrong types and out-of-range
//! numbers are refused with a message that names the option and the value,
//! never silently ignored.

use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};

use super::js::{self, get};
use crate::core::{Credentials, Identity};

/// `Err` carries the message of an `invalid` error.
pub type Checked<T> = Result<T, String>;

/// Refuse option names outside `allowed`.
pub fn only_known(obj: &JsValue, allowed: &[&str], what: &str) -> Checked<()> {
    only_known_in(obj, allowed, what, "")
}

/// `only_known` for `{what}{suffix}` (`get` + ` options`), formatted only
/// when there is an error: this runs on every call.
pub fn only_known_in(obj: &JsValue, allowed: &[&str], what: &str, suffix: &str) -> Checked<()> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(());
    }
    if !obj.is_object() || obj.is_function() || Array::is_array(obj) {
        return Err(format!(
            "{what}{suffix} must be an object, got {}",
            describe(obj)
        ));
    }
    for name in Object::keys(obj.unchecked_ref::<Object>()).iter() {
        let name = name.as_string().unwrap_or_default();
        if !allowed.contains(&name.as_str()) {
            return Err(format!(
                "unknown option `{name}` in {what}{suffix} (known: {})",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

/// A whole number of milliseconds or a count, within `min..=2^53`.
pub fn whole(obj: &JsValue, name: &str, what: &str, min: u64) -> Checked<Option<u64>> {
    let v = get(obj, name);
    if v.is_undefined() {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() && n.fract() == 0.0 && n >= min as f64 && n <= 9.0e15 => {
            Ok(Some(n as u64))
        }
        _ => Err(format!(
            "option `{what}.{name}` must be a whole number >= {min}, got {}",
            describe(&v)
        )),
    }
}

/// A boolean option.
pub fn flag(obj: &JsValue, name: &str, what: &str) -> Checked<Option<bool>> {
    let v = get(obj, name);
    if v.is_undefined() {
        return Ok(None);
    }
    v.as_bool().map(Some).ok_or_else(|| {
        format!(
            "option `{what}.{name}` must be true or false, got {}",
            describe(&v)
        )
    })
}

/// A string option.
pub fn string(obj: &JsValue, name: &str, what: &str) -> Checked<Option<String>> {
    let v = get(obj, name);
    if v.is_undefined() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| {
        format!(
            "option `{what}.{name}` must be a string, got {}",
            describe(&v)
        )
    })
}

/// `credentials`: one of fetch's three modes.
pub fn credentials(obj: &JsValue, what: &str) -> Checked<Option<Credentials>> {
    match string(obj, "credentials", what)? {
        None => Ok(None),
        Some(s) => Credentials::parse(&s).map(Some).ok_or_else(|| {
            format!(
                "option `{what}.credentials` must be \"same-origin\", \"include\" or \"omit\", got \"{s}\""
            )
        }),
    }
}

/// `headers`: a plain object of string values (a `Headers` instance is
/// accepted too). Names compare case-insensitively; later ones win.
pub fn headers(obj: &JsValue, what: &str) -> Checked<Vec<(String, String)>> {
    let v = get(obj, "headers");
    let mut out: Vec<(String, String)> = Vec::new();
    if v.is_undefined() {
        return Ok(out);
    }
    let pairs: Vec<(String, JsValue)> = if let Some(h) = v.dyn_ref::<web_sys::Headers>() {
        let mut pairs = Vec::new();
        if let Ok(Some(iter)) = js_sys::try_iter(h) {
            for item in iter.flatten() {
                let pair: Array = item.unchecked_into();
                pairs.push((pair.get(0).as_string().unwrap_or_default(), pair.get(1)));
            }
        }
        pairs
    } else if v.is_object() && !Array::is_array(&v) && !v.is_function() {
        Object::entries(v.unchecked_ref::<Object>())
            .iter()
            .map(|e| {
                let e: Array = e.unchecked_into();
                (e.get(0).as_string().unwrap_or_default(), e.get(1))
            })
            .collect()
    } else {
        return Err(format!(
            "option `{what}.headers` must be an object of strings, got {}",
            describe(&v)
        ));
    };
    for (name, value) in pairs {
        let Some(value) = value.as_string() else {
            return Err(format!(
                "header `{name}` in `{what}.headers` must be a string, got {}",
                describe(&value)
            ));
        };
        merge_header(&mut out, name, value);
    }
    Ok(out)
}

/// Set `name` in `headers`, replacing any case-insensitive match.
pub fn merge_header(headers: &mut Vec<(String, String)>, name: String, value: String) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    headers.push((name, value));
}

/// Headers that always say who the user is, besides `Authorization`.
const CREDENTIAL_HEADERS: [&str; 2] = ["cookie", "proxy-authorization"];

/// The client's `credentialHeaders` option (names of more headers that
/// identify the user, such as `X-Api-Key`), with the built-in ones: lower-case.
pub fn credential_headers(options: &JsValue) -> Checked<Vec<String>> {
    let mut names: Vec<String> = CREDENTIAL_HEADERS.iter().map(|n| n.to_string()).collect();
    let v = js::get(options, "credentialHeaders");
    if v.is_undefined() {
        return Ok(names);
    }
    let bad = || {
        format!(
            "option `createClient.credentialHeaders` must be an array of header names, got {}",
            describe(&v)
        )
    };
    if !Array::is_array(&v) {
        return Err(bad());
    }
    for item in Array::from(&v).iter() {
        let name = item.as_string().filter(|n| !n.is_empty()).ok_or_else(bad)?;
        names.push(name.to_ascii_lowercase());
    }
    Ok(names)
}

/// Move the credential headers (`Authorization` and the `names`) out of
/// `headers` into `identity`, replacing what it had for the same name.
pub fn take_credentials(
    headers: &mut Vec<(String, String)>,
    names: &[String],
    identity: &mut Identity,
) {
    headers.retain(|(n, v)| {
        if n.eq_ignore_ascii_case("authorization") {
            identity.authorization = Some(v.clone());
            return false;
        }
        let lower = n.to_ascii_lowercase();
        if !names.contains(&lower) {
            return true;
        }
        // Kept sorted by name (a handful at most: no sort needed).
        identity.secrets.retain(|(s, _)| *s != lower);
        let at = identity.secrets.partition_point(|(s, _)| *s < lower);
        identity.secrets.insert(at, (lower, v.clone()));
        false
    });
}

/// A short description of a JS value for error messages.
pub fn describe(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        let mut s: String = s.chars().take(60).collect();
        s.insert(0, '"');
        s.push('"');
        return s;
    }
    if v.as_f64().is_some() || v.as_bool().is_some() {
        // JS's own spelling (`1e+21`, `Infinity`), and no float formatting
        // code in the wasm.
        return super::js::to_string(v);
    }
    if v.is_null() {
        return "null".into();
    }
    if v.is_function() {
        return "a function".into();
    }
    if Array::is_array(v) {
        return "an array".into();
    }
    if v.is_object() {
        return "an object".into();
    }
    v.js_typeof()
        .as_string()
        .unwrap_or_else(|| "a value".into())
}
