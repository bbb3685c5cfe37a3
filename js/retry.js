// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date in any of
// its three forms, as a wait in ms, capped at one day.

export const MAX_RETRY_AFTER_MS = 86_400_000
const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec'
// The three forms, each with its day name: day, month, year and time (asctime:
// month, day, time, year).
const IMF = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), +(\d\d?) +(\w{3}) +(\d{4}) +(\d\d):(\d\d):(\d\d) +GMT$/ // `Sun, 06 Nov 1994 08:49:37 GMT`
const RFC850 = /^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, +(\d\d?)-(\w{3})-(\d\d) +(\d\d):(\d\d):(\d\d) +GMT$/ // `Sunday, 06-Nov-94 08:49:37 GMT`
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +(\w{3}) +(\d\d?) +(\d\d):(\d\d):(\d\d) +(\d{4})$/ // `Sun Nov  6 08:49:37 1994`

/** An HTTP-date in ms since the epoch, or NaN. */
function httpDate(s) {
  let m, d, mon, y, h, mi, sec
  if ((m = IMF.exec(s))) [, d, mon, y, h, mi, sec] = m
  else if ((m = RFC850.exec(s))) {
    ;[, d, mon, y, h, mi, sec] = m
    y = +y + (y < 70 ? 2000 : 1900) // two-digit years are 1970-2069
  } else if ((m = ASCTIME.exec(s))) [, mon, d, h, mi, sec, y] = m
  else return NaN
  const month = MONTHS.indexOf(mon) / 3
  if (!(month % 1 === 0 && month >= 0 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 60 && y >= 1970)) return NaN
  return Date.UTC(y, month, d, h, mi, sec)
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
