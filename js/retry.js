// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date in any of
// its three forms, as a wait in ms, capped at one day.

export const MAX_RETRY_AFTER_MS = 86_400_000
const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec'
const LONG_DAYS = 'Monday Tuesday Wednesday Thursday Friday Saturday Sunday'.split(' ')
const DAYS = LONG_DAYS.map((d) => d.slice(0, 3))
const digits = (t, n) => (t.length === n && /^\d+$/.test(t) ? +t : NaN)

/** An HTTP-date in ms since the epoch, or NaN. */
function httpDate(s) {
  let m
  let d, mon, y, t
  // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
  if ((m = /^(\w{3}), +(\S+) +(\S+) +(\S+) +(\S+) +GMT$/.exec(s)) && DAYS.includes(m[1])) {
    ;[, , d, mon, y, t] = m
    y = digits(y, 4)
  } else if ((m = /^(\w+), +(\d+)-(\w+)-(\S+) +(\S+) +GMT$/.exec(s)) && LONG_DAYS.includes(m[1])) {
    // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`; two-digit years are 1970-2069.
    ;[, , d, mon, y, t] = m
    y = digits(y, 2)
    y += y < 70 ? 2000 : 1900
  } else if ((m = /^(\w{3}) +(\S+) +(\S+) +(\S+) +(\S+)$/.exec(s)) && DAYS.includes(m[1])) {
    // asctime: `Sun Nov  6 08:49:37 1994`
    ;[, , mon, d, t, y] = m
    y = digits(y, 4)
  } else return NaN
  const month = MONTHS.indexOf(mon) / 3
  const day = d.length <= 2 && /^\d+$/.test(d) ? +d : NaN
  const hms = t.split(':')
  if (mon.length !== 3 || month % 1 !== 0 || month < 0 || hms.length !== 3) return NaN
  const [h, mi, sec] = hms.map((p) => digits(p, 2))
  if (!(day >= 1 && day <= 31 && h <= 23 && mi <= 59 && sec <= 60 && y >= 1970)) return NaN
  return Date.UTC(y, month, day, h, mi, sec)
}

/**
 * How long to wait, in ms from `nowMs` (ms since the epoch), at most a day;
 * -1 for a value that is neither seconds nor an HTTP-date. A past date is 0.
 */
export function retryAfter(value, nowMs) {
  const v = value.trim()
  const wait = /^\d+$/.test(v) ? Number(v) * 1000 : httpDate(v) - nowMs
  if (Number.isNaN(wait)) return -1
  return Math.min(Math.max(wait, 0), MAX_RETRY_AFTER_MS)
}
