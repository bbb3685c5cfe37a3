// The benchmark page, bundled by bench/run.mjs with esbuild and driven with
// Playwright through `window.__bench`. Importing net.js first wraps `fetch`.
import { cannedAnswer, net, netSnapshot, resetNet } from './net.js'
import { calmState, makeClient, setPort } from './clients.js'
import { storm, churn, pollTab, stormPage, takeCalm } from './scenarios.js'
import { hoverSetup, hoverResult, hoverTeardown } from './hover.js'
import { microHot, microHotNames, microConcurrent, microStartup } from './micro.js'
import { probeStart, probeStop } from './probe.js'
import { createClient } from 'calmfetch'

/**
 * Load calmfetch's wasm module now (the first createClient starts loading it
 * asynchronously; calls made before it is ready are queued), so that a
 * scenario measures the work of serving data, not the one-time start-up.
 * Waits until a first `get` (answered by canned data, uncounted) settles;
 * returns how long that took (ms). The peers' code is evaluated when the page
 * loads, also before any measurement.
 */
async function warmCalmfetch() {
  const t0 = performance.now()
  const c = createClient()
  calmState.loaded = true
  calmState.client = c
  net.fake = cannedAnswer
  try {
    await c.get('http://warm.bench/api/warm')
  } finally {
    resetNet()
  }
  return performance.now() - t0
}

/**
 * Warm this page up before measuring: `users` simulated users of client
 * `kind` each open a game page (8 reads) against canned answers, without the
 * network and uncounted. A page of the benchmark hosts ~125 simulated users,
 * where a real browser hosts one; without this, the one-time work of a page
 * (the JIT compiling the peers' JavaScript, V8's optimizing compile of
 * calmfetch's hot wasm functions) would compete with the measured run for the
 * shared 2 cores. `node bench/run.mjs --cold` skips it. Returns ms taken.
 */
async function warmUp({ kind, users }) {
  const t0 = performance.now()
  net.fake = cannedAnswer
  try {
    // Ten at a time: the compilers care how often code runs, not how many
    // clients exist at once, and calmfetch's wasm memory never shrinks.
    const at = 10
    for (let lo = 0; lo < users; lo += at) {
      await Promise.all(
        Array.from({ length: Math.min(at, users - lo) }, async (_, i) => {
          const u = 1_000_000 + lo + i
          const c = makeClient(kind, u, {})
          const page = stormPage(u)
          await Promise.allSettled([...page.rest, ...page.live].map((p) => c.read(p)))
          c.destroy()
        }),
      )
    }
  } finally {
    resetNet()
  }
  return performance.now() - t0
}

window.__bench = {
  warmCalmfetch,
  warmUp,
  setPort,
  makeClient, // for poking at a client from the driver or DevTools
  resetNet,
  net: netSnapshot,
  probeStart,
  probeStop,
  storm,
  churn,
  pollTab,
  takeCalm,
  hoverSetup,
  hoverResult,
  hoverTeardown,
  microHot,
  microHotNames,
  microConcurrent,
  microStartup,
}
window.__benchReady = true
