// The benchmark page, bundled by bench/run.mjs with esbuild and driven with
// Playwright through `window.__bench`. Importing net.js first wraps `fetch`.
import { netSnapshot, resetNet } from './net.js'
import { calmState, makeClient, setPort } from './clients.js'
import { storm, churn, pollTab } from './scenarios.js'
import { hoverSetup, hoverResult, hoverTeardown } from './hover.js'
import { microHot, microConcurrent } from './micro.js'
import { probeStart, probeStop } from './probe.js'
import { createClient } from 'calmfetch'

/**
 * Instantiate calmfetch's wasm module now (it happens at the first
 * createClient), so that a scenario measures the work of serving data, not
 * the one-time start-up; returns how long it took (ms). The peers' code is
 * evaluated when the page loads, also before any measurement.
 */
function warmCalmfetch() {
  const t0 = performance.now()
  createClient()
  calmState.loaded = true
  return performance.now() - t0
}

window.__bench = {
  warmCalmfetch,
  setPort,
  makeClient, // for poking at a client from the driver or DevTools
  resetNet,
  net: netSnapshot,
  probeStart,
  probeStop,
  storm,
  churn,
  pollTab,
  hoverSetup,
  hoverResult,
  hoverTeardown,
  microHot,
  microConcurrent,
}
window.__benchReady = true
