// URLs: resolving against the base, the key's normal form, origins and
// prefixes. Errors are returned as message strings (`Refused`), never thrown.

/** A URL that cannot be used: the reason, fit to show (no credentials). */
export class Refused {
  constructor(why) {
    this.why = why
  }
}

/** Where the authority of `url` starts: after `scheme://` (0 without one). */
function hostStart(url) {
  const i = url.indexOf('://')
  return i < 0 ? 0 : i + 3
}

/** `url` fit to appear in an error: with a user name or password in it, only its scheme. */
export function redact(url) {
  const start = hostStart(url)
  const authority = url.slice(start).split(/[/?#]/, 1)[0]
  return authority.includes('@') ? url.slice(0, start) : url
}

/** Keep messages short when somebody passes a huge string. */
const truncate = (s) => (s.length <= 200 ? s : `${s.slice(0, 200)}…`)

const byName = (a, b) => {
  const x = a.split('=', 1)[0]
  const y = b.split('=', 1)[0]
  return x < y ? -1 : x > y ? 1 : 0
}

/**
 * The key's form of an absolute URL: scheme in lower case, no fragment,
 * query parameters sorted by name (stable: `a=2&a=1` stays as it is).
 * @returns {string | Refused}
 */
export function normalize(url) {
  const m = /^(https?:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?/i.exec(url) // scheme, authority, path, query
  if (m === null) return new Refused(`\`${truncate(redact(url))}\` is not an http: or https: URL`)
  const [, scheme, authority, path, query = ''] = m
  if (authority === '') return new Refused(`\`${truncate(url)}\` has no host`)
  if (authority.includes('@')) {
    return new Refused('a URL with a user name or password (`user:pass@host`) is refused; send credentials in headers')
  }
  const base = scheme.toLowerCase() + authority + path
  const params = query.split('&').filter((p) => p !== '')
  return params.length === 0 ? base : `${base}?${params.sort(byName).join('&')}`
}

/**
 * Resolve `url` against `base` (undefined: none) with the platform's parser, then normalise it.
 * @returns {string | Refused}
 */
export function resolve(url, base) {
  let href
  try {
    href = new URL(url, base).href // (an undefined base is no base)
  } catch {
    return new Refused(
      base === undefined
        ? `\`${redact(url)}\` is not an absolute URL, and there is no page location or \`baseUrl\` to resolve it against`
        : `\`${redact(url)}\` is not a valid URL`,
    )
  }
  return normalize(href)
}

/** The scheme, host and port of an absolute URL. */
export function origin(url) {
  const start = hostStart(url)
  const end = url.slice(start).search(/[/?]/)
  return end < 0 ? url : url.slice(0, start + end)
}

/** The path and query of an absolute URL (the socket's topic, a batch item's url). */
export const pathOf = (url) => url.slice(origin(url).length) || '/'

/**
 * Does `url` fall under `prefix`? The URL itself, and URLs that continue it at
 * a path or query boundary (`/a/1` covers `/a/1/b` and `/a/1?x`, not `/a/10`).
 */
export function under(url, prefix) {
  if (!url.startsWith(prefix)) return false
  const c = url[prefix.length]
  return c === undefined || c === '/' || c === '?' || prefix.endsWith('/')
}

/** The page's own URL, when there is a page. */
export const pageUrl = () => {
  const href = globalThis.location?.href
  return typeof href === 'string' ? href : undefined
}
