#!/usr/bin/env node
// calmfetch benchmark: plain fetch, TanStack Query, TanStack Query + DataLoader
// and calmfetch side by side, in one headless Chromium, against the reference
// server (www/server) on 127.0.0.1. Method and caveats: bench/README.md.
//
//   node bench/run.mjs                 full run (writes bench/results.json, RESULTS.md, chart.svg)
//   node bench/run.mjs --quick         short smoke run for CI (results go to $TMPDIR/calmfetch-bench-quick):
//                                      exits 1 unless calmfetch makes fewer server requests than
//                                      every peer in storm, churn and poll
//   options: --pkg DIR (use a built calmfetch package instead of building one; also CALMFETCH_PKG)
//            --only storm,storm-rest,churn,churn-real,poll,hover,micro,size   --out DIR (where results go; default bench/)
//            --poll-users N (users in the poll scenario, 3 tabs each; default 10, quick 3; the issue's is 50)
//            --hover-latency-ms N (server latency in the hover scenario; default 100)
//            --storm-rest-only (issue 3's storm: all 8 component calls over REST, no socket)
//            --clients fetch,tanstack,tanstack+dataloader,calmfetch (a subset, for development)
//            --profile (a sampled CPU profile of each run's first page: the top functions by self time)
//            --cold (no warm-up of the pages before measuring; see warmUp in bench/page/main.js)
import events from 'node:events'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as esbuild from 'esbuild'
import { launchChromium } from '../tests/lib/browser.mjs'
import { startServer, DEFAULT_KNOBS } from '../www/server/server.mjs'
import { KINDS, LABEL, chartSvg, median, mdTable, percentile, tables, textReport } from './lib/report.mjs'
import { bundleSizes } from './lib/sizes.mjs'

// The server's simulated sleeps each add an abort listener to one signal.
events.defaultMaxListeners = 0

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const startedAt = Date.now()
const loadAtStart = os.loadavg()

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    pkg: { type: 'string' },
    only: { type: 'string' },
    clients: { type: 'string' },
    out: { type: 'string' },
    'hover-latency-ms': { type: 'string' },
    'storm-rest-only': { type: 'boolean' },
    'poll-users': { type: 'string' },
    profile: { type: 'boolean' },
    cold: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (args.help) {
  const head = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1)
  console.log(head.slice(0, head.findIndex((l) => !l.startsWith('//'))).join('\n'))
  process.exit(0)
}
const QUICK = args.quick
// Every wait below is bounded; this bounds the whole run as well.
const WATCHDOG_MS = (QUICK ? 6 : 20) * 60_000
setTimeout(() => {
  console.error(`bench: still running after ${WATCHDOG_MS / 60_000} min; giving up`)
  process.exit(1)
}, WATCHDOG_MS).unref()
const ONLY = new Set((args.only ?? 'storm,storm-rest,churn,churn-real,poll,hover,micro,size').split(',').map((s) => s.trim()))
// --quick must not overwrite the full run's results in bench/.
const OUT = resolve(args.out ?? (QUICK ? join(os.tmpdir(), 'calmfetch-bench-quick') : here))
const RUN_KINDS = args.clients ? KINDS.filter((k) => args.clients.split(',').includes(k)) : KINDS

// ---------------------------------------------------------------------------
// Scenario settings. Server knobs not listed are the reference defaults
// (DB pool 50, auth query 2 ms, data query 5 ms, queue timeout 1 s).
// ---------------------------------------------------------------------------
// Time scales: this machine (2 cores, shared by the simulated users, the
// server and Chromium) handles a few hundred HTTP requests a second end to
// end, which is far less than 50 users clicking through pages offer with
// plain fetch. So churn runs in slow motion (every duration, the server's
// latency and DB times, the batch window and the freshness window multiplied
// by `slowMotion`), and poll runs `speedUp` times faster than real time but
// not so fast that the machine becomes the bottleneck. Counts are as measured.
const CONFIG = {
  storm: QUICK
    ? {
        // The first 200 of the full storm's users (same arrival rate, 1000/s),
        // with the arrival ramp and the socket timeout compressed 5x.
        users: 200,
        usersPerPage: 125,
        rampMs: 200,
        socketDelayMs: 2000, // still 1 s later than the timeout, as in the full run
        socketTimeoutMs: 1000,
        maxMs: 20_000,
        compressed: 5,
      }
    : {
        users: 1000,
        usersPerPage: 125, // users per page (renderer process): see README, browser limits
        rampMs: 1000, // users arrive evenly over this long
        socketDelayMs: 6000, // the incident: the WebSocket handshake takes 6 s
        socketTimeoutMs: 5000, // calmfetch connectTimeoutMs (its default) = the peers' wait for the socket
        maxMs: 40_000, // a page without its data after this long counts as "without data"
      },
  churn: {
    users: QUICK ? 10 : 50,
    pages: QUICK ? 8 : 20,
    dwellMs: [50, 350], // per page, seeded uniform (scenario time): 20 pages take about 4 s
    latencyMs: 100, // server latency (scenario time)
    slowMotion: QUICK ? 2 : 5,
    browserPages: 1, // every user in one page
  },
  // Issue 15's churn at real speed: the same users and page sequences, not
  // slowed down, 200 ms +-25% per page, the users spread over 10 browser
  // pages (renderers) sharing the CPU; the API is on another origin
  // (u<N>.bench; the page is on 127.0.0.1), as in every scenario.
  'churn-real': {
    users: QUICK ? 10 : 50,
    pages: QUICK ? 8 : 20,
    dwellMs: [150, 250],
    latencyMs: 100,
    slowMotion: 1,
    browserPages: QUICK ? 2 : 10,
  },
  poll: {
    // The issue's 50 users scaled 1:5 (full) and 1:12.5 (quick): every tab is
    // a page of its own (see README); counts per user are what compares.
    users: Number(args['poll-users'] ?? (QUICK ? 3 : 10)),
    issueUsers: 50,
    goalPerSecond: 10.5, // issue 15, for the issue's 50 users
    // The fewest requests any client can send for 50 users: one activity
    // request per user every 5 s, validate riding along every other one.
    floorPerSecond: 50 / 5,
    validateMs: 10_000, // scenario time
    activityMs: 5_000,
    durationMs: QUICK ? 20_000 : 60_000,
    speedUp: QUICK ? 5 : 3,
  },
  hover: {
    trials: QUICK ? 3 : 10,
    restMs: 150,
    brushMs: 10,
    latencyMs: Number(args['hover-latency-ms'] ?? 100),
  },
  micro: {
    hotMs: QUICK ? 150 : 400, // per variant and round
    hotRounds: QUICK ? 2 : 5,
    concurrent: 10_000,
    rounds: QUICK ? 2 : 5,
    startupPages: QUICK ? 3 : 15, // fresh pages per client for the start-up (its noise is about ±0.5 ms a page)
    startupIdleMs: 1000, // a fresh page settles this long before measuring
  },
}
CONFIG.storm.knobs = { latencyMs: 0, socketDelayMs: CONFIG.storm.socketDelayMs }
CONFIG.storm.restOnly = Boolean(args['storm-rest-only'])
// Issue 3's storm (every component over REST, no socket), where issue 15
// asks for calmfetch's main-thread time at or below TanStack Query +
// DataLoader's: those two only (plain fetch and TanStack Query alone send
// 8,000 requests and add minutes). --storm-rest-only makes `storm` this too.
// Its main thread time is a goal, and one run of it varies by 10-25% on this
// machine: it runs `rounds` times, the clients alternating, and each client's
// run with the median main-thread time is the one reported.
CONFIG['storm-rest'] = { ...CONFIG.storm, restOnly: true, clients: ['tanstack+dataloader', 'calmfetch'], rounds: QUICK ? 1 : 5 }
for (const c of [CONFIG.churn, CONFIG['churn-real']]) {
  const k = c.slowMotion
  c.knobs = {
    latencyMs: c.latencyMs * k,
    authQueryMs: DEFAULT_KNOBS.authQueryMs * k,
    dataQueryMs: DEFAULT_KNOBS.dataQueryMs * k,
    queueTimeoutMs: DEFAULT_KNOBS.queueTimeoutMs * k,
  }
  c.real = { dwellMs: c.dwellMs.map((x) => x * k), freshMs: 10_000 * k, windowMs: 10 * k }
}
{
  const f = CONFIG.poll.speedUp
  CONFIG.poll.knobs = { latencyMs: 0 }
  CONFIG.poll.real = {
    validateMs: Math.round(CONFIG.poll.validateMs / f),
    activityMs: Math.round(CONFIG.poll.activityMs / f),
    durationMs: Math.round(CONFIG.poll.durationMs / f),
    freshMs: Math.round(10_000 / f),
  }
}
CONFIG.hover.knobs = { latencyMs: CONFIG.hover.latencyMs }

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const errors = [] // anything that went wrong in the benchmark itself
const log = (...a) => console.log(...a)

function bounded(promise, ms, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)
    }),
  ])
}

async function until(cond, ms, what) {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s`)
    await sleep(50)
  }
}

/** CPU seconds (user+system) of this process's descendants (Chromium), from /proc. */
function childCpuMs() {
  try {
    const tick = 1000 / 100 // USER_HZ is 100 on Linux
    const procs = new Map()
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        procs.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) * tick })
      } catch {}
    }
    let total = 0
    for (const p of procs.values()) {
      let q = p.ppid
      for (let i = 0; i < 20 && q > 1; i++) {
        if (q === process.pid) {
          total += p.cpu
          break
        }
        q = procs.get(q)?.ppid ?? 0
      }
    }
    return total
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------
// build calmfetch, bundle the page, start the server and Chromium
// ---------------------------------------------------------------------------
const work = mkdtempSync(join(os.tmpdir(), 'calmfetch-bench-'))
let pkg = args.pkg ?? process.env.CALMFETCH_PKG
let buildMs = 0
if (pkg) {
  pkg = resolve(pkg)
  if (!existsSync(join(pkg, 'index.js'))) {
    console.error(`bench: ${pkg} has no index.js (build it with: node scripts/build.mjs --out ${pkg})`)
    process.exit(2)
  }
  log(`calmfetch package: ${pkg}`)
} else {
  pkg = join(work, 'pkg')
  log(`building calmfetch into ${pkg} (node scripts/build.mjs --out ...; pass --pkg DIR to skip)`)
  const t = Date.now()
  try {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--out', pkg], { cwd: root, stdio: 'pipe' })
  } catch (e) {
    console.error(`bench: building calmfetch failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`)
    process.exit(2)
  }
  buildMs = Date.now() - t
}
const pkgVersion = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version

const site = join(work, 'site')
mkdirSync(site, { recursive: true })
writeFileSync(join(site, 'index.html'), '<!doctype html>\n<html><head><meta charset="utf-8"><title>calmfetch bench</title></head>\n<body><nav id="links"></nav><script type="module" src="/bench.js"></script></body></html>\n')
await esbuild.build({
  entryPoints: [join(here, 'page', 'main.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: false,
  outfile: join(site, 'bench.js'),
  alias: { calmfetch: join(pkg, 'index.js') },
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
})

const server = await startServer({ port: 0, staticDir: site })
const browser = await launchChromium([
  // Every simulated user talks to its own host name, u<N>.bench, so it gets
  // its own HTTP/1.1 connections (6 per host), as separate machines would.
  '--host-resolver-rules=MAP *.bench 127.0.0.1',
  '--enable-precise-memory-info',
  '--js-flags=--expose-gc',
])
const chromiumVersion = browser.version()
const pageErrors = []

// The reference server never finishes a POST /batch whose client aborted
// while the server was still in its latency sleep (it waits for a body that
// will not come; see README, known issues): such requests stay "in flight"
// forever. drain() waits for the rest and reports how many got stuck.
let stuckBase = 0 // stuck requests so far (the server's inFlight never drops below it)
let stuckAtReset = 0
let stuckNow = 0 // stuck requests of the current run
function setServer(knobs) {
  server.setKnobs({ ...DEFAULT_KNOBS, ...knobs })
  server.reset()
  stuckAtReset = stuckBase
  stuckNow = 0
}

async function drain(what) {
  const end = Date.now() + 20_000
  let last = null
  let stableSince = Date.now()
  for (;;) {
    const s = server.stats()
    if (s.inFlight <= stuckBase) return 0
    const sig = `${s.inFlight}/${s.requests}/${s.dbQueries}/${s.batchItems}`
    if (sig !== last) {
      last = sig
      stableSince = Date.now()
    } else if (Date.now() - stableSince > 2000) {
      const stuck = s.inFlight - stuckBase
      stuckBase = s.inFlight
      return stuck
    }
    if (Date.now() > end) throw new Error(`${what}: server requests still in flight after 20 s`)
    await sleep(50)
  }
}

async function openPage(context, { hidden = false, origin = server.url, warm = null } = {}) {
  const page = await context.newPage()
  if (hidden) {
    // Playwright cannot hide a page that is on screen, so visibility is
    // emulated before any script runs (calmfetch and TanStack read it).
    await page.addInitScript(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true })
      Object.defineProperty(document, 'hidden', { value: true, configurable: true })
    })
  }
  page.on('pageerror', (e) => pageErrors.push(String(e?.stack ?? e)))
  page.on('crash', () => pageErrors.push('a page crashed'))
  await page.goto(origin + '/', { timeout: 30_000 })
  await page.waitForFunction(() => window.__benchReady === true, null, { timeout: 30_000 })
  await page.evaluate((port) => window.__bench.setPort(port), server.port)
  if (warm === 'calmfetch') await page.evaluate(() => window.__bench.warmCalmfetch())
  if (warm && !args.cold) await bounded(page.evaluate((a) => window.__bench.warmUp(a), { kind: warm, users: WARM_USERS }), 60_000, `warm-up ${warm}`)
  const cdp = await context.newCDPSession(page)
  await cdp.send('Performance.enable')
  return { page, cdp }
}

async function metrics(cdp) {
  const { metrics: m } = await cdp.send('Performance.getMetrics')
  return Object.fromEntries(m.map((x) => [x.name, x.value]))
}

/** Start measuring on every page: GC, CDP metrics, in-page probe. */
async function measureStart(pages) {
  if (args.profile) {
    await pages[0].cdp.send('Profiler.enable')
    await pages[0].cdp.send('Profiler.setSamplingInterval', { interval: 200 })
    await pages[0].cdp.send('Profiler.start')
  }
  for (const p of pages) {
    await p.cdp.send('HeapProfiler.collectGarbage').catch(() => {})
    p.before = await metrics(p.cdp)
    await p.page.evaluate(() => window.__bench.probeStart())
  }
  return { elu: performance.eventLoopUtilization(), cpu: process.cpuUsage(), chromium: childCpuMs(), t: Date.now() }
}

/** Each page's calmfetch counters, read after its main-thread time was (see scenarios.js). */
async function takeCalm(pages, parts) {
  for (const [i, p] of pages.entries()) parts[i].calm = await p.page.evaluate(() => window.__bench.takeCalm())
}

async function measureStop(pages, start) {
  const out = { mainThreadMs: 0, mainThreadCpuMs: 0, scriptMs: 0, heapPeakDeltaBytes: 0, longTasks: 0, longTaskMs: 0, wasmMemoryBytes: 0 }
  const elu = performance.eventLoopUtilization(start.elu)
  const cpu = process.cpuUsage(start.cpu)
  const chromium = childCpuMs()
  for (const p of pages) {
    const probe = await p.page.evaluate(() => window.__bench.probeStop())
    const after = await metrics(p.cdp)
    out.mainThreadMs += (after.TaskDuration - p.before.TaskDuration) * 1000
    // (ThreadTime: the main thread's CPU time, which time spent descheduled on a busy machine does not inflate.)
    out.mainThreadCpuMs += (after.ThreadTime - p.before.ThreadTime) * 1000
    out.scriptMs += (after.ScriptDuration - p.before.ScriptDuration) * 1000
    out.heapPeakDeltaBytes += probe.heapPeakDeltaBytes
    out.longTasks += probe.longTasks
    out.longTaskMs += probe.longTaskMs
    out.wasmMemoryBytes += probe.wasmMemoryBytes
  }
  out.wallMs = Date.now() - start.t
  if (args.profile) out.profile = selfTimes((await pages[0].cdp.send('Profiler.stop')).profile)
  out.serverProcessEventLoopBusy = elu.utilization
  out.serverProcessCpuMs = (cpu.user + cpu.system) / 1000
  out.chromiumCpuMs = chromium !== null && start.chromium !== null ? chromium - start.chromium : null
  return out
}

/** The top functions of a CDP CPU profile by self time, in ms. */
function selfTimes(profile, top = 20) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame
    const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`
    self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  })
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  return { totalMs: Math.round(total), top: [...self].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, ms]) => ({ fn, ms: Math.round(ms) })) }
}

function serverCounts(s) {
  return {
    serverStuckRequests: stuckNow,
    requests: s.requests,
    dbQueries: s.dbQueries,
    authQueries: s.authQueries,
    dataQueries: s.dataQueries,
    batchItems: s.batchItems,
    status503: s.status503,
    maxDbWait: s.maxDbWait,
    maxConcurrentRequests: s.maxConcurrentRequests - stuckAtReset,
    preflights: s.preflights,
    byPath: s.byPath,
    socket: s.socket,
  }
}

const sum = (list, f) => list.reduce((a, x) => a + (f(x) ?? 0), 0)
function mergeNet(list) {
  const keys = ['sent', 'responses', 'aborted', 'refused', 'wasted', 'wastedItems', 'maxOutstanding']
  return Object.fromEntries(keys.map((k) => [k, sum(list, (x) => x.net[k])]))
}
function mergeCalm(list) {
  const all = list.map((x) => x.calm).filter(Boolean)
  if (!all.length) return null
  const out = {}
  for (const c of all) for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v
  return out
}
function mergeCounts(list, field) {
  const out = {}
  for (const x of list) for (const [k, v] of Object.entries(x[field] ?? {})) out[k] = (out[k] ?? 0) + v
  return out
}

/** Simulated page opens per page in the warm-up (none with --cold). */
const WARM_USERS = 200

/**
 * Run `fn(pages)` in a fresh browser context (cold connections, own storage).
 * Every page is warmed up with client `kind` before measuring (for
 * calmfetch, that includes instantiating its wasm module).
 */
async function inContext(kind, specs, fn) {
  specs = specs.map((s) => ({ ...s, warm: kind }))
  const context = await browser.newContext()
  try {
    const pages = []
    // A few at a time: opening dozens of renderers at once starves the machine.
    for (let i = 0; i < specs.length; i += 8) pages.push(...(await Promise.all(specs.slice(i, i + 8).map((spec) => openPage(context, spec)))))
    return await fn(pages)
  } finally {
    await context.close().catch(() => {})
  }
}

// ---------------------------------------------------------------------------
// scenarios
// ---------------------------------------------------------------------------
async function runStorm(kind, name = 'storm') {
  const c = CONFIG[name]
  const nPages = Math.ceil(c.users / c.usersPerPage)
  return inContext(kind, Array.from({ length: nPages }, () => ({})), async (pages) => {
    setServer(c.knobs)
    const m0 = await measureStart(pages)
    const t0 = Date.now() + 500
    const per = Math.ceil(c.users / nPages)
    const parts = await bounded(
      Promise.all(
        pages.map((p, i) =>
          p.page.evaluate((a) => window.__bench.storm(a), {
            kind,
            lo: i * per,
            hi: Math.min(c.users, (i + 1) * per),
            users: c.users,
            t0,
            rampMs: c.rampMs,
            socketTimeoutMs: c.socketTimeoutMs,
            maxMs: c.maxMs,
            restOnly: c.restOnly,
          }),
        ),
      ),
      c.maxMs + c.rampMs + 30_000,
      `${name}/${kind}`,
    )
    stuckNow = await drain(`${name}/${kind}`)
    const m = await measureStop(pages, m0)
    await takeCalm(pages, parts)
    const times = parts.flatMap((x) => x.times)
    const errs = mergeCounts(parts, 'errors')
    return {
      ...serverCounts(server.stats()),
      ...m,
      pages: times.length,
      incomplete: sum(parts, (x) => x.incomplete),
      stuckPages: parts.flatMap((x) => x.stuck).slice(0, 5),
      pagesWithErrors: sum(parts, (x) => x.pagesWithErrors),
      failedCalls: Object.values(errs).reduce((a, b) => a + b, 0),
      errors: errs,
      p50: percentile(times, 50),
      p95: percentile(times, 95),
      ...mergeNet(parts),
      calm: mergeCalm(parts),
    }
  })
}

async function runChurn(kind, name = 'churn') {
  const c = CONFIG[name]
  const nPages = c.browserPages ?? 1
  const per = Math.ceil(c.users / nPages)
  return inContext(kind, Array.from({ length: nPages }, () => ({})), async (pages) => {
    setServer(c.knobs)
    const m0 = await measureStart(pages)
    const t0 = Date.now() + 300 + 50 * nPages
    const parts = await bounded(
      Promise.all(
        pages.map((p, i) =>
          p.page.evaluate((a) => window.__bench.churn(a), {
            kind,
            lo: i * per,
            hi: Math.min(c.users, (i + 1) * per),
            pages: c.pages,
            dwellMs: c.real.dwellMs,
            t0,
            clientOpts: { freshMs: c.real.freshMs, windowMs: c.real.windowMs },
            lingerMs: 3 * c.knobs.latencyMs,
          }),
        ),
      ),
      c.pages * c.real.dwellMs[1] + 60_000,
      `${name}/${kind}`,
    )
    stuckNow = await drain(`${name}/${kind}`)
    const m = await measureStop(pages, m0)
    await takeCalm(pages, parts)
    const times = parts.flatMap((r) => r.times)
    return {
      ...serverCounts(server.stats()),
      ...m,
      visits: sum(parts, (r) => r.visits),
      floor: { requests: sum(parts, (r) => r.floor.requests), dbQueries: sum(parts, (r) => r.floor.dbQueries) },
      complete: sum(parts, (r) => r.complete),
      leftEarly: sum(parts, (r) => r.leftEarly),
      errors: mergeCounts(parts, 'errors'),
      p50: percentile(times, 50),
      p95: percentile(times, 95),
      ...mergeNet(parts),
      calm: mergeCalm(parts),
    }
  })
}

/** Poll: user u has 1 + (u % 3) visible tabs of its 3; the others are hidden. */
function pollLayout(users) {
  const visibleTabs = (u) => 1 + (u % 3)
  let hidden = 0
  for (let u = 0; u < users; u++) hidden += 3 - visibleTabs(u)
  return { visibleTabs, hidden }
}

async function runPoll(kind) {
  const c = CONFIG.poll
  const { visibleTabs } = pollLayout(c.users)
  // One page per tab, on its user's own origin u<N>.localhost (a secure
  // context): a user's 3 tabs share BroadcastChannel and Web Locks with each
  // other and with nobody else, as on a real machine.
  const tabs = []
  for (let u = 0; u < c.users; u++) for (let slot = 0; slot < 3; slot++) tabs.push({ user: u, hidden: slot >= visibleTabs(u) })
  return inContext(
    kind,
    tabs.map((t) => ({ hidden: t.hidden, origin: `http://u${t.user}.localhost:${server.port}` })),
    async (pages) => {
      setServer(c.knobs)
      const m0 = await measureStart(pages)
      const t0 = Date.now() + 1000
      const parts = await bounded(
        Promise.all(
          pages.map((p, i) =>
            p.page.evaluate((a) => window.__bench.pollTab(a), {
              kind,
              userList: [tabs[i].user],
              t0,
              durationMs: c.real.durationMs,
              validateMs: c.real.validateMs,
              activityMs: c.real.activityMs,
              clientOpts: { freshMs: c.real.freshMs, base: `http://u${tabs[i].user}.localhost:${server.port}` },
            }),
          ),
        ),
        c.real.durationMs + 30_000,
        `poll/${kind}`,
      )
      stuckNow = await drain(`poll/${kind}`)
      const stats = server.stats()
      const m = await measureStop(pages, m0)
      await takeCalm(pages, parts)
      // Requests per user, from each tab's own count of what it sent.
      const sentByUser = new Map()
      for (const x of parts) for (const [u, n] of Object.entries(x.net.byUser)) sentByUser.set(Number(u), (sentByUser.get(Number(u)) ?? 0) + n)
      const byVisible = {}
      for (const v of [1, 2, 3]) {
        const us = [...Array(c.users).keys()].filter((u) => visibleTabs(u) === v)
        if (us.length) byVisible[v] = us.reduce((a, u) => a + (sentByUser.get(u) ?? 0), 0) / us.length
      }
      const visibleParts = parts.filter((x) => !x.hidden)
      // Requests per second of scenario time (the run is sped up), for the
      // users run and scaled to the issue's 50 (users are independent: each
      // has its own origin, its tabs share nothing with other users').
      const perSecond = stats.requests / (c.durationMs / 1000)
      return {
        ...serverCounts(stats),
        requestsPerSecond: perSecond,
        requestsPerSecondForIssueUsers: (perSecond * c.issueUsers) / c.users,
        ...m,
        updates: sum(parts, (x) => x.updates),
        updatesPerVisibleTab: sum(visibleParts, (x) => x.updates) / Math.max(1, sum(visibleParts, (x) => x.tabs)),
        // Per key, and per visible tab as a list (leader and follower tabs differ).
        updatesPerVisibleTabByPath: Object.fromEntries(Object.entries(mergeCounts(visibleParts, 'updatesByPath')).map(([k, v]) => [k, v / Math.max(1, sum(visibleParts, (x) => x.tabs))])),
        visibleTabUpdates: visibleParts.map((x) => x.updatesByPath),
        pollErrors: sum(parts, (x) => x.errors),
        requestsPerUserByVisible: byVisible,
        ...mergeNet(parts),
        calm: mergeCalm(parts),
      }
    },
  )
}

async function runHover(kind, firstUser) {
  const c = CONFIG.hover
  return inContext(kind, [{}], async ([p]) => {
    const page = p.page
    const out = {}
    let user = firstUser
    for (const mode of ['direct', 'brushing']) {
      setServer(c.knobs)
      const trials = []
      let slowBrushes = 0
      let calmStats = null
      for (let t = 0; t < c.trials; t++) {
        const ids = [1, 2, 3, 4].map((i) => ((t * 4 + i) % 20) + 1)
        await bounded(page.evaluate((a) => window.__bench.hoverSetup(a), { kind, user: user++, ids }), 10_000, `hover/${kind}: setup`)
        const box = async (id) => {
          const b = await page.locator(`#${id}`).boundingBox()
          return [b.x + b.width / 2, b.y + b.height / 2]
        }
        const l4 = await box('l4')
        if (mode === 'direct') {
          await page.mouse.move(700, l4[1])
          await page.mouse.move(...l4, { steps: 4 })
        } else {
          const l1 = await box('l1')
          await page.mouse.move(700, l1[1])
          for (const id of ['l1', 'l2', 'l3']) {
            await page.mouse.move(...(await box(id)))
            await sleep(c.brushMs)
          }
          await page.mouse.move(...l4)
        }
        await sleep(c.restMs)
        await page.mouse.down()
        await page.mouse.up()
        await until(() => page.evaluate(() => window.__bench.hoverResult().clickToData !== null), 10_000, `hover/${kind}: click without data`)
        const r = await page.evaluate(() => window.__bench.hoverResult())
        if (mode === 'brushing' && ['l1', 'l2', 'l3'].some((id) => !(r.dwell[id] < 65))) slowBrushes++
        trials.push(r)
        await sleep(200) // let stray prefetches land before the next user
        const s = await bounded(page.evaluate(() => window.__bench.hoverTeardown()), 10_000, `hover/${kind}: teardown`)
        if (s) {
          calmStats ??= {}
          for (const [k, v] of Object.entries(s)) if (typeof v === 'number') calmStats[k] = (calmStats[k] ?? 0) + v
        }
        await page.mouse.move(700, 600)
      }
      await drain(`hover/${kind}`)
      const stats = server.stats()
      const times = trials.map((r) => r.clickToData)
      out[mode] = {
        trials: trials.length,
        requests: stats.requests,
        dbQueries: stats.dbQueries,
        status503: stats.status503,
        requestsPerTrial: stats.requests / trials.length,
        dbQueriesPerTrial: stats.dbQueries / trials.length,
        p50: percentile(times, 50),
        p95: percentile(times, 95),
        hoverBeforeClickMedian: median(trials.map((r) => r.hoverBeforeClick)),
        brushDwellMedian: mode === 'brushing' ? median(trials.flatMap((r) => ['l1', 'l2', 'l3'].map((id) => r.dwell[id]))) : null,
        slowBrushes,
        clickErrors: trials.filter((r) => r.error).map((r) => r.error),
        calm: calmStats,
      }
    }
    return out
  })
}

async function runMicro() {
  const c = CONFIG.micro
  const micro = await inContext(null, [{}], async ([p]) => {
    setServer({ latencyMs: 0 })
    // Cached calls: every variant in the same page, in rounds, the order
    // rotating each round; the median round of each.
    const names = await bounded(p.page.evaluate((a) => window.__bench.microHotNames(a), { user: 9990 }), 30_000, 'micro/hot setup')
    const hotRounds = Object.fromEntries(names.map((w) => [w, []]))
    for (let r = 0; r < c.hotRounds; r++) {
      for (let j = 0; j < names.length; j++) {
        const w = names[(j + r) % names.length]
        hotRounds[w].push(await bounded(p.page.evaluate((a) => window.__bench.microHot(a), { which: w, minMs: c.hotMs, user: 9990 }), 120_000, `micro/hot ${w}`))
      }
    }
    const hot = {}
    for (const w of names) {
      const us = hotRounds[w].map((x) => 1e6 / x.opsPerSec)
      const mid = median(us)
      hot[w] = { opsPerSec: 1e6 / mid, usPerCall: mid, usMin: Math.min(...us), usMax: Math.max(...us), rounds: hotRounds[w] }
    }
    const which = ['calmfetch get(url)', 'calmfetch get(url, {})', 'TanStack fetchQuery', 'DataLoader load']
    const rounds = Object.fromEntries(which.map((w) => [w, []]))
    let user = 9000
    for (let r = 0; r < c.rounds; r++) {
      for (const w of which) {
        rounds[w].push(await bounded(p.page.evaluate((a) => window.__bench.microConcurrent(a), { which: w, n: c.concurrent, user: user++ }), 60_000, `micro/${w}`))
      }
    }
    const concurrent = {}
    for (const w of which) {
      const list = rounds[w]
      concurrent[w] = {
        n: c.concurrent,
        ms: median(list.map((x) => x.ms)),
        msMin: Math.min(...list.map((x) => x.ms)),
        msMax: Math.max(...list.map((x) => x.ms)),
        issuedMs: median(list.map((x) => x.issuedMs)),
        httpRequests: median(list.map((x) => x.httpRequests)),
        fulfilled: Math.min(...list.map((x) => x.fulfilled)),
        rounds: list,
      }
    }
    return { hot, hotRounds: c.hotRounds, concurrent, rounds: c.rounds }
  })
  micro.startup = await runStartup()
  return micro
}

/**
 * Start-up: in a fresh page each time (a new browser context, nothing of
 * the library run yet), the main-thread time of the first client and its
 * first call until that call settles, read as the renderer main thread's
 * CDP `Performance.getMetrics` TaskDuration before and after (every task:
 * the synchronous calls, the tasks that inflate and instantiate calmfetch's
 * module and replay the queued call, the response's tasks, and the
 * driver's own evaluate round trip). The same for TanStack Query and for a
 * plain fetch of the same URL (the floor: what the request and the
 * measurement cost without a library). Clients alternate, page by page.
 */
async function runStartup() {
  const c = CONFIG.micro
  setServer({ latencyMs: 0 })
  const whichs = ['calmfetch', 'tanstack', 'fetch']
  const raw = Object.fromEntries(whichs.map((w) => [w, []]))
  let user = 9500
  for (let i = 0; i < c.startupPages; i++) {
    for (let j = 0; j < whichs.length; j++) {
      const which = whichs[(i + j) % whichs.length]
      const context = await browser.newContext()
      try {
        const { page, cdp } = await openPage(context)
        await sleep(c.startupIdleMs)
        const before = await metrics(cdp)
        const r = await bounded(page.evaluate((a) => window.__bench.microStartup(a), { which, user: user++ }), 30_000, `micro/startup ${which}`)
        const after = await metrics(cdp)
        r.mainThreadMs = (after.TaskDuration - before.TaskDuration) * 1000
        r.scriptMs = (after.ScriptDuration - before.ScriptDuration) * 1000
        raw[which].push(r)
      } finally {
        await context.close().catch(() => {})
      }
    }
  }
  const out = { method: 'CDP Performance.getMetrics TaskDuration around the first client + first call (fresh page)', pages: c.startupPages }
  const floor = median(raw.fetch.map((x) => x.mainThreadMs))
  for (const w of whichs) {
    const list = raw[w]
    out[w] = {
      mainThreadMs: median(list.map((x) => x.mainThreadMs)),
      mainThreadMsMin: Math.min(...list.map((x) => x.mainThreadMs)),
      mainThreadMsMax: Math.max(...list.map((x) => x.mainThreadMs)),
      aboveFloorMs: median(list.map((x) => x.mainThreadMs)) - floor,
      scriptMs: median(list.map((x) => x.scriptMs)),
      createMs: median(list.map((x) => x.createMs)),
      callMs: median(list.map((x) => x.callMs)),
      settledMs: median(list.map((x) => x.settledMs)),
      longTasks: Math.max(...list.map((x) => x.longTasks)),
      rounds: list,
    }
  }
  return out
}

// ---------------------------------------------------------------------------
// run everything
// ---------------------------------------------------------------------------
const results = {
  meta: {
    date: new Date().toISOString(),
    mode: QUICK ? 'quick' : 'full',
    calmfetch: pkgVersion,
    commit: (() => {
      try {
        const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim()
        if (args.pkg ?? process.env.CALMFETCH_PKG) return `package ${pkg}, built separately; repository at ${head}`
        const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'js', 'Cargo.toml', 'scripts/build.mjs'], { cwd: root }).toString().trim() !== ''
        return dirty ? `built from ${head} + uncommitted changes in src/, js/ or the build` : `built from ${head}`
      } catch {
        return null
      }
    })(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      memoryGB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      chromium: chromiumVersion,
    },
    buildMs,
    loadBefore: loadAtStart,
  },
  config: CONFIG,
  warmUp: args.cold ? null : { usersPerPage: WARM_USERS },
  scenarios: {},
  micro: null,
  sizes: null,
  errors,
}

async function step(name, fn) {
  const t = Date.now()
  try {
    await fn()
  } catch (e) {
    errors.push(`${name}: ${e?.stack ?? e}`)
    console.error(`bench: ${name} failed: ${e?.stack ?? e}`)
  }
  log(`  ${name}: ${((Date.now() - t) / 1000).toFixed(1)} s`)
}

const t0 = Date.now()
try {
  for (const scenario of ['storm', 'storm-rest', 'churn', 'churn-real', 'poll']) {
    if (!ONLY.has(scenario)) continue
    const cfg = CONFIG[scenario]
    const entry = { config: { ...cfg }, clients: {} }
    if (scenario === 'poll') {
      entry.config.tabs = cfg.users * 3
      entry.config.hiddenTabs = pollLayout(cfg.users).hidden
      entry.config.visibleTabsPerUser = 'user u has 1 + (u % 3) visible tabs'
    }
    results.scenarios[scenario] = entry
    log(`${scenario}:`)
    const kinds = RUN_KINDS.filter((k) => !cfg.clients || cfg.clients.includes(k))
    const rounds = cfg.rounds ?? 1
    const runs = Object.fromEntries(kinds.map((k) => [k, []]))
    for (let r = 0; r < rounds; r++) {
      // The clients alternate who goes first, round by round.
      for (const kind of r % 2 === 0 ? kinds : kinds.toReversed()) {
        await step(`${scenario}/${kind}${rounds > 1 ? ` (round ${r + 1} of ${rounds})` : ''}`, async () => {
          const run = { storm: runStorm, 'storm-rest': (k) => runStorm(k, 'storm-rest'), churn: runChurn, 'churn-real': (k) => runChurn(k, 'churn-real'), poll: runPoll }[scenario]
          const out = await run(kind)
          runs[kind].push(out)
          const prof = out.profile
          if (prof) log(`    profile of the first page, ${prof.totalMs} ms sampled:\n` + prof.top.map((x) => `      ${String(x.ms).padStart(6)} ms  ${x.fn}`).join('\n'))
        })
      }
    }
    for (const kind of kinds) {
      const list = runs[kind]
      if (list.length === 0) continue
      // The run with the median main-thread time (the lower middle of an even count).
      const sorted = list.toSorted((a, b) => a.mainThreadMs - b.mainThreadMs)
      entry.clients[kind] = sorted[Math.floor((sorted.length - 1) / 2)]
      if (rounds > 1) {
        entry.clients[kind].mainThreadMsRounds = list.map((x) => Math.round(x.mainThreadMs))
        entry.clients[kind].mainThreadCpuMsRounds = list.map((x) => Math.round(x.mainThreadCpuMs))
        entry.clients[kind].mainThreadCpuMsMedian = median(list.map((x) => x.mainThreadCpuMs))
        entry.clients[kind].incompleteRounds = list.map((x) => x.incomplete)
      }
    }
  }
  if (ONLY.has('hover')) {
    const entry = { config: { ...CONFIG.hover }, clients: {} }
    results.scenarios.hover = entry
    log('hover:')
    let user = 5000
    for (const kind of RUN_KINDS) {
      await step(`hover/${kind}`, async () => {
        entry.clients[kind] = await runHover(kind, user)
      })
      user += 1000
    }
  }
  if (ONLY.has('micro')) {
    log('micro:')
    await step('micro', async () => {
      results.micro = await runMicro()
    })
  }
  if (ONLY.has('size')) {
    log('size:')
    await step('size', async () => {
      results.sizes = await bundleSizes({ root, pkg })
    })
  }
} finally {
  await browser.close().catch(() => {})
  await server.close().catch(() => {})
}
results.meta.runMs = Date.now() - t0
results.meta.loadAfter = os.loadavg()
results.meta.totalMs = Date.now() - startedAt
for (const e of pageErrors) errors.push(`page error: ${e}`)

// calmfetch must settle every promise: a page left without data is a defect.
for (const name of ['storm', 'storm-rest']) {
  const stormCalm = results.scenarios[name]?.clients.calmfetch
  if (stormCalm && Math.max(stormCalm.incomplete, ...(stormCalm.incompleteRounds ?? [])) > 0) errors.push(`${name}/calmfetch: ${Math.max(stormCalm.incomplete, ...(stormCalm.incompleteRounds ?? []))} pages still without data after ${CONFIG[name].maxMs / 1000} s`)
}

// ---------------------------------------------------------------------------
// the bar of issue 8 (checked in --quick): fewer server requests than every peer
// ---------------------------------------------------------------------------
const gate = []
for (const scenario of ['storm', 'storm-rest', 'churn', 'churn-real', 'poll']) {
  const clients = results.scenarios[scenario]?.clients
  if (!clients?.calmfetch) continue
  const mine = clients.calmfetch.requests
  for (const kind of KINDS) {
    if (kind === 'calmfetch' || !clients[kind]) continue
    gate.push({ scenario, peer: kind, calmfetch: mine, peerRequests: clients[kind].requests, ok: mine < clients[kind].requests })
  }
}
results.gate = gate

// ---------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------
const analysis = analyse(results)
results.analysis = analysis
log('')
log(textReport(results))
log('')
for (const line of analysis) log(`* ${line}`)
log('')
for (const g of gate) log(`${g.ok ? 'ok  ' : 'FAIL'} ${g.scenario}: calmfetch ${g.calmfetch} requests vs ${LABEL[g.peer]} ${g.peerRequests}`)

mkdirSync(OUT, { recursive: true })
writeFileSync(join(OUT, 'results.json'), JSON.stringify(results, null, 2) + '\n')
writeFileSync(join(OUT, 'RESULTS.md'), resultsMarkdown(results))
writeFileSync(join(OUT, 'chart.svg'), chartSvg(results))
log(`\nwrote ${join(OUT, 'results.json')}, RESULTS.md, chart.svg (run ${(results.meta.runMs / 1000).toFixed(0)} s, build ${(buildMs / 1000).toFixed(0)} s)`)
rmSync(work, { recursive: true, force: true })

if (errors.length) {
  console.error(`\nbench: ${errors.length} error(s):\n${errors.map((e) => `  - ${e.split('\n')[0]}`).join('\n')}`)
  process.exit(1)
}
if (QUICK && gate.some((g) => !g.ok)) {
  console.error('\nbench --quick: calmfetch is not below every peer in server requests (issue 8\'s bar); see above')
  process.exit(1)
}

// ---------------------------------------------------------------------------
// what the numbers say about the measurement itself
// ---------------------------------------------------------------------------
function analyse(res) {
  const notes = []
  const cpus = res.meta.machine.cpus
  for (const [name, scen] of Object.entries(res.scenarios)) {
    for (const k of KINDS) {
      const x = scen.clients[k]
      if (!x || x.wallMs === undefined) continue
      if (x.refused > 0) notes.push(`${name}/${LABEL[k]}: ${x.refused} fetches failed in the browser without an answer (Chromium refuses requests beyond about 1,350 outstanding per renderer): a browser limit, not the server's.`)
      if (x.serverStuckRequests > 0) notes.push(`${name}/${LABEL[k]}: ${x.serverStuckRequests} aborted POST /batch never finished on the reference server (a server bug, see README); they are counted as requests and made no DB query.`)
      if (x.chromiumCpuMs === null) continue
      const busy = (x.chromiumCpuMs + x.serverProcessCpuMs) / (x.wallMs * cpus)
      if (busy > 0.8) {
        notes.push(`${name}/${LABEL[k]}: the machine was saturated (Chromium ${Math.round(x.chromiumCpuMs / 1000)} s + server ${Math.round(x.serverProcessCpuMs / 1000)} s of CPU in ${Math.round(x.wallMs / 1000)} s on ${cpus} cores, ${Math.round(busy * 100)}%; server event loop busy ${Math.round(x.serverProcessEventLoopBusy * 100)}%): its times measure this machine more than the DB-pool model, whose queue waited at most ${Math.round(x.maxDbWait)} ms.`)
      }
    }
  }
  const [l1, l5] = res.meta.loadBefore ?? []
  if (l1 !== undefined && l1 > res.meta.machine.cpus * 0.5) notes.push(`other processes were busy when the run started (load average ${l1.toFixed(1)} over 1 min, ${l5.toFixed(1)} over 5 min on ${cpus} cores): times and CPU figures are noisier than on an idle machine.`)
  return notes
}

function resultsMarkdown(res) {
  const m = res.meta
  const lines = []
  lines.push('# calmfetch benchmark results')
  lines.push('')
  lines.push(`Generated by \`node bench/run.mjs${m.mode === 'quick' ? ' --quick' : ''}\` on ${m.date} (${m.mode} run). Method, fairness rules and caveats: [README.md](README.md). Raw numbers: [results.json](results.json).`)
  lines.push('')
  lines.push(`- calmfetch ${m.calmfetch}${m.commit ? ` (${m.commit})` : ''}; Chromium ${m.machine.chromium} headless; Node ${m.machine.node}`)
  lines.push(`- machine: ${m.machine.cpus} × ${m.machine.cpuModel}, ${m.machine.memoryGB} GB, ${m.machine.os}; the server, the driver and Chromium share it`)
  lines.push(`- run time ${(m.runMs / 1000).toFixed(0)} s (+ ${(m.buildMs / 1000).toFixed(0)} s building calmfetch)`)
  lines.push('')
  lines.push('![server requests per scenario and client](chart.svg)')
  lines.push('')
  for (const t of tables(res)) {
    lines.push(`## ${t.name}`)
    lines.push('')
    lines.push(`${t.title[0].toUpperCase()}${t.title.slice(1)}.`)
    lines.push('')
    lines.push(mdTable(t))
    lines.push('')
  }
  const floorOf = (scenario) => res.scenarios[scenario]?.clients.calmfetch?.floor?.requests
  const gateRows = res.gate.map((g) => {
    const floor = floorOf(g.scenario)
    const atFloor = !g.ok && floor !== undefined && g.calmfetch === floor ? ` (both at the floor, ${floor.toLocaleString('en-US')})` : ''
    return [g.scenario, LABEL[g.peer], g.peerRequests.toLocaleString('en-US'), g.calmfetch.toLocaleString('en-US'), g.ok ? 'yes' : `**no**${atFloor}`]
  })
  if (gateRows.length) {
    lines.push("## Issue 8's bar: fewer server requests than every peer")
    lines.push('')
    lines.push(mdTable({ head: ['scenario', 'peer', 'peer requests', 'calmfetch requests', 'calmfetch below'], rows: gateRows }))
    lines.push('')
  }
  lines.push('## How each number was measured')
  lines.push('')
  lines.push('- **HTTP requests, DB queries, 503s**: the reference server\'s counters (`/__stats`), reset before each client\'s run and read after every request in flight finished. A `POST /batch` is one request with one auth query plus one data query per item; a plain GET is one auth plus one data query. Preflights and static files are not counted.')
  lines.push('- **wasted responses**: answers that reached the browser when no mounted component of that user wanted any URL they carried (counted by a `fetch` wrapper in the page that every client goes through).')
  lines.push('- **page data p50/p95**: from the moment a page\'s components mount until all of them have data (or failed), in the page (`performance.now()`).')
  lines.push('- **main thread ms**: Chrome DevTools Protocol `Performance.getMetrics` `TaskDuration` (all tasks of each renderer\'s main thread), summed over the run\'s pages.')
  lines.push(res.warmUp
    ? `- **warm-up**: before measuring, every page of storm, churn, poll and hover ran ${res.warmUp.usersPerPage} simulated page opens of the client under test against canned answers (no network, uncounted), so that one-time work per page (JIT and wasm compilation) does not compete with the measured run; see README.md.`
    : '- **warm-up**: none (`--cold`): one-time work per page (JIT and wasm compilation) ran during the measured runs.')
  lines.push('- **heap MB**: peak of `performance.memory.usedJSHeapSize` (precise, sampled every 200 ms) above its value after a GC at the start, summed over pages. calmfetch\'s wasm linear memory is outside the JS heap; the table shows it next to the heap (`wasmMemoryBytes` in results.json), summed over pages.')
  lines.push('')
  if (res.analysis.length) {
    lines.push('## What limited the measurement')
    lines.push('')
    for (const a of res.analysis) lines.push(`- ${a}`)
    lines.push('')
  }
  if (res.errors.length) {
    lines.push('## Errors during the run')
    lines.push('')
    for (const e of res.errors) lines.push(`- ${e.split('\n')[0]}`)
    lines.push('')
  }
  return lines.join('\n')
}
