//! `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.

/// The longest wait a `Retry-After` can ask for: a day. Seconds and dates
/// beyond it are capped, so that no timer is ever armed for years.
pub const MAX_RETRY_AFTER_MS: u64 = 86_400_000;

/// How long to wait, in ms, from `now_ms` (ms since the epoch), at most
/// [`MAX_RETRY_AFTER_MS`]. `None` for a value that is neither a number of
/// seconds nor an HTTP-date in one of the three forms RFC 9110 §5.6.7
/// accepts: `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate),
/// `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850) and `Sun Nov  6 08:49:37 1994`
/// (asctime). A date in the past means no wait (0).
///
/// ```
/// use calmfetch::core::retry::parse_retry_after;
/// assert_eq!(parse_retry_after("120", 0), Some(120_000));
/// assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 4_000), Some(6_000));
/// ```
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let v = value.trim();
    let wait = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<u64>().unwrap_or(u64::MAX).saturating_mul(1000)
    } else {
        http_date(v)?.saturating_sub(now_ms)
    };
    Some(wait.min(MAX_RETRY_AFTER_MS))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// An HTTP-date in any of its three forms, in ms since the epoch.
fn http_date(s: &str) -> Option<u64> {
    let (day_name, rest) = s.split_once([',', ' '])?;
    let words: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
    let (day, month, year, time) = match (s.as_bytes().get(day_name.len()), words.as_slice()) {
        // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
        (Some(b','), [d, m, y, t, "GMT"]) if DAYS.contains(&day_name) && y.len() == 4 => {
            (*d, *m, number(y)?, *t)
        }
        // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`; a two-digit year is in
        // 1970-2069 (RFC 9110 asks for the nearest past-or-close century).
        (Some(b','), [dmy, t, "GMT"]) if LONG_DAYS.contains(&day_name) => {
            let mut parts = dmy.split('-');
            let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || y.len() != 2 {
                return None;
            }
            let y = number(y)?;
            (d, m, if y < 70 { 2000 + y } else { 1900 + y }, *t)
        }
        // asctime: `Sun Nov  6 08:49:37 1994`
        (Some(b' '), [m, d, t, y]) if DAYS.contains(&day_name) && y.len() == 4 => {
            (*d, *m, number(y)?, *t)
        }
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let day = number(day).filter(|d| (1..=31).contains(d) && day.len() <= 2)?;
    let mut hms = time.split(':');
    let (h, mi, sec) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || [h, mi, sec].iter().any(|p| p.len() != 2) {
        return None;
    }
    let (h, mi, sec) = (number(h)?, number(mi)?, number(sec)?);
    if h > 23 || mi > 59 || sec > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000)
}

/// A run of ASCII digits (at most 4) as a number.
fn number(t: &str) -> Option<u64> {
    if t.is_empty() || t.len() > 4 || !t.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(t.bytes().fold(0, |n, c| n * 10 + u64::from(c - b'0')))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year >= 1970).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates() {
        assert_eq!(parse_retry_after(" 5 ", 0), Some(5_000));
        assert_eq!(parse_retry_after("0", 0), Some(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(86_400_000)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 0),
            Some(MAX_RETRY_AFTER_MS),
            "a date far ahead waits a day, not years"
        );
        // 1994-11-06T08:49:37Z is 784111777 s after the epoch.
        let at = 784_111_777_000;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 2_500),
            Some(2_500)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 10),
            Some(0)
        );
        assert_eq!(
            parse_retry_after("Tue, 29 Feb 2028 00:00:00 GMT", 1_835_395_200_000 - 5_000),
            Some(5_000)
        );
    }

    #[test]
    fn all_three_date_forms() {
        let at = 784_111_777_000; // 1994-11-06T08:49:37Z
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(form, at - 1_000), Some(1_000), "{form}");
        }
        assert_eq!(
            parse_retry_after("Thursday, 31-Dec-26 23:59:59 GMT", 0),
            Some(MAX_RETRY_AFTER_MS),
            "two-digit years below 70 are in this century"
        );
        assert_eq!(
            parse_retry_after("Thursday, 01-Jan-70 00:00:10 GMT", 4_000),
            Some(6_000)
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov  6 08:49:37 94",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun,\u{e9}06 Nov 1994 08:49:37 GM",
        ] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad}");
        }
    }
}
