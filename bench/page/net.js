// Transport accounting. Every client in the benchmark (calmfetch included:
// its JS shell looks up `globalThis.fetch` at each request) goes through this
// wrapper, which counts what the browser sent and what came back, and which
// answers arrived when no page wanted them any more ("wasted").
//
// Each simulated user talks to its own host name, `u<N>.bench` (Chromium maps
// `*.bench` to 127.0.0.1, see bench/run.mjs) or, in the poll scenario, its own
// origin `u<N>.localhost`, so the user is read from the URL.

export const net = {
  sent: 0,
  responses: 0,
  aborted: 0,
  /** `fetch` rejected without an abort: the browser refused (e.g. ERR_INSUFFICIENT_RESOURCES) or the connection failed. */
  refused: 0,
  wasted: 0,
  wastedItems: 0,
  outstanding: 0,
  maxOutstanding: 0,
  /** user -> requests sent */
  byUser: {},
  /** Set by a scenario: (user, paths) -> whether a mounted component still wants any of `paths`. */
  wanted: null,
  /** Set during a page's warm-up: answers every request at once, uncounted, without the network. */
  fake: null,
}

export function resetNet() {
  for (const k of Object.keys(net)) if (typeof net[k] === 'number') net[k] = 0
  net.wanted = null
  net.fake = null
  net.byUser = {}
}

/** The counters, without the scenario's callback (for page.evaluate). */
export function netSnapshot() {
  const { wanted, fake, ...rest } = net
  void wanted, fake
  return { ...rest, byUser: { ...net.byUser } }
}

const USER = /^https?:\/\/u(\d+)\.(?:bench|localhost)(?::\d+)?(\/[^#]*)?/

/** The paths a request carries: its own, or each item of a `/batch` body. */
function pathsOf(path, init) {
  if (path.startsWith('/batch') && init && typeof init.body === 'string') {
    try {
      return JSON.parse(init.body).requests.map((r) => r.url)
    } catch {
      return []
    }
  }
  return [path]
}

const realFetch = globalThis.fetch.bind(globalThis)

/**
 * The warm-up's server: a `/batch` POST gets a 200 for each of its items,
 * any other request a small JSON body, all at once.
 */
export function cannedAnswer(url, init) {
  const path = new URL(url).pathname
  const body = (p) => ({ path: p, warm: true, items: [1, 2, 3] })
  const json = (v) => new Response(JSON.stringify(v), { headers: { 'Content-Type': 'application/json' } })
  if (path === '/batch' && init && typeof init.body === 'string') {
    const { requests } = JSON.parse(init.body)
    return json({ responses: requests.map((r) => ({ id: r.id, status: 200, headers: {}, body: body(r.url) })) })
  }
  return json(body(path))
}

globalThis.fetch = function benchFetch(input, init) {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
  if (net.fake) return Promise.resolve(net.fake(url, init))
  const m = USER.exec(url)
  const user = m ? Number(m[1]) : -1
  const paths = m ? pathsOf(m[2] ?? '/', init) : []
  net.sent++
  if (user >= 0) net.byUser[user] = (net.byUser[user] ?? 0) + 1
  net.outstanding++
  if (net.outstanding > net.maxOutstanding) net.maxOutstanding = net.outstanding
  return realFetch(input, init).then(
    (res) => {
      net.outstanding--
      net.responses++
      if (user >= 0 && net.wanted && !net.wanted(user, paths)) {
        net.wasted++
        net.wastedItems += paths.length
      }
      return res
    },
    (err) => {
      net.outstanding--
      if (err && err.name === 'AbortError') net.aborted++
      else net.refused++
      throw err
    },
  )
}
