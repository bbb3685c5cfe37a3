// Turns bench results into text tables (stdout), RESULTS.md and chart.svg.

export const KINDS = ['fetch', 'tanstack', 'tanstack+dataloader', 'calmfetch']
export const LABEL = {
  fetch: 'plain fetch',
  tanstack: 'TanStack Query',
  'tanstack+dataloader': 'TanStack Query + DataLoader',
  calmfetch: 'calmfetch',
}

const dash = '–'
export const int = (n) => (n === null || n === undefined || Number.isNaN(n) ? dash : Math.round(n).toLocaleString('en-US'))
export const ms = (n) => (n === null || n === undefined ? dash : n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'))
export const mb = (n) => (n === null || n === undefined ? dash : (n / 1048576).toFixed(1))
export const kb = (n) => (n === null || n === undefined ? dash : (n / 1024).toFixed(1))
export const rate = (n) => (n === null || n === undefined || Number.isNaN(n) ? dash : n.toFixed(1))
const us = (n) => (n === null || n === undefined ? dash : n.toFixed(2))
export const pct = (n) => (n === null || n === undefined ? dash : `${Math.round(n * 100)}%`)

/** Percentile (nearest rank) of a list of numbers. */
export function percentile(list, p) {
  if (!list || list.length === 0) return null
  const s = [...list].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}

export function median(list) {
  return percentile(list, 50)
}

/** A table as { head: [...], rows: [[...]], align?: 'lr..' }. */
export function textTable({ head, rows }) {
  const all = [head, ...rows].map((r) => r.map((c) => String(c)))
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)))
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')
  return [line(all[0]), w.map((n) => '-'.repeat(n)).join('  '), ...all.slice(1).map(line)].join('\n')
}

export function mdTable({ head, rows }) {
  const esc = (c) => String(c).replace(/\|/g, '\\|')
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n')
}

const common = (c) => [int(c.requests), int(c.dbQueries), int(c.status503)]
const cpu = (c) => [ms(c.mainThreadMs), c.wasmMemoryBytes > 0 ? `${mb(c.heapPeakDeltaBytes)} (+${mb(c.wasmMemoryBytes)} wasm)` : mb(c.heapPeakDeltaBytes)]

/** The churn floor, as a sentence for the table's title (every client measured the same one). */
function churnFloorText(churn) {
  const f = Object.values(churn.clients).find((x) => x.floor)?.floor
  return f ? `. Floor for any client that fetches a page's data when the page opens: ${int(f.requests)} requests, ${int(f.dbQueries)} DB queries (one request per page that shows a key for the first time)` : ''
}

const yes = (ok) => (ok === null || ok === undefined ? dash : ok ? 'yes' : '**no**')

/** Issue 15's goals: [what, calmfetch, TanStack, goal, met]. */
export function goalRows(res) {
  const rows = []
  const size = (n) => res.sizes?.find((x) => x.name.startsWith(n))
  const cf = size('calmfetch (index.js + react.js')
  const tq = size('@tanstack/react-query')
  if (cf && tq) {
    const k = cf.gzip / 1024
    rows.push(['shipped JS + wasm, gzip KB (`calmfetch` + `calmfetch/react` vs `@tanstack/react-query`)', kb(cf.gzip), kb(tq.gzip), '≤ 30 (never above 40)', k <= 30 ? 'yes' : k <= 40 ? '**no** (under 40)' : '**no**'])
  }
  const st = res.micro?.startup
  if (st?.calmfetch && st?.tanstack) {
    rows.push([
      'first createClient() + first get, main thread ms (above a plain fetch; measured)',
      `${ms(st.calmfetch.aboveFloorMs)} (${ms(st.calmfetch.mainThreadMs)})`,
      `${ms(st.tanstack.aboveFloorMs)} (${ms(st.tanstack.mainThreadMs)})`,
      '≤ 5',
      yes(st.calmfetch.aboveFloorMs <= 5),
    ])
  }
  const hot = res.micro?.hot
  const tqHot = hot?.['TanStack fetchQuery (staleTime Infinity)']
  if (hot && tqHot) {
    const plain = hot['calmfetch get(url)']
    const hdr = Object.entries(hot).find(([k]) => k.startsWith('calmfetch get(url, { headers'))?.[1]
    if (plain) rows.push(['cached `get(url)`, µs per call', us(plain.usPerCall), `${us(tqHot.usPerCall)} (fetchQuery)`, '≤ TanStack', yes(plain.usPerCall <= tqHot.usPerCall)])
    if (hdr) rows.push(["cached `get(url, { headers: { 'X-Trace': '1' } })`, inline literal, µs per call", us(hdr.usPerCall), `${us(tqHot.usPerCall)} (fetchQuery)`, "≤ TanStack's cached fetchQuery", yes(hdr.usPerCall <= tqHot.usPerCall)])
  }
  const conc = res.micro?.concurrent
  if (conc?.['calmfetch get(url)'] && conc?.['TanStack fetchQuery']) {
    const a = conc['calmfetch get(url)'].ms
    const b = conc['TanStack fetchQuery'].ms
    rows.push([`${int(conc['calmfetch get(url)'].n)} identical cold calls, ms until all settled`, ms(a), ms(b), '≤ TanStack', yes(a <= b)])
  }
  const DL = 'tanstack+dataloader'
  for (const name of ['churn-real', 'churn']) {
    const x = s(res, name, 'calmfetch')
    const y = s(res, name, DL)
    if (!x || !y) continue
    const what = name === 'churn' ? `churn in ${res.scenarios[name].config.slowMotion}× slow motion` : 'churn at real speed'
    const floor = x.floor?.requests
    const atFloor = x.requests >= y.requests && x.requests === floor && y.requests === floor ? ` (both at the floor, ${int(floor)})` : ''
    rows.push([`${what}: HTTP requests (TanStack column: + DataLoader)`, int(x.requests), int(y.requests), '< TanStack Query + DataLoader', `${yes(x.requests < y.requests)}${atFloor}`])
    rows.push([`${what}: pages completed before the user left`, int(x.complete), int(y.complete), '≥ TanStack Query + DataLoader', yes(x.complete >= y.complete)])
  }
  for (const name of ['storm-rest', 'storm']) {
    const x = s(res, name, 'calmfetch')
    const y = s(res, name, DL)
    if (x && y) {
      const rest = res.scenarios[name].config.restOnly
      const n = x.mainThreadMsRounds?.length ?? 1
      const msr = (c) => (c.mainThreadMsRounds ? `${ms(c.mainThreadMs)} (${ms(Math.min(...c.mainThreadMsRounds))}–${ms(Math.max(...c.mainThreadMsRounds))})` : ms(c.mainThreadMs))
      rows.push([`storm${rest ? ', REST only' : ' with the socket (the goal is for the REST-only one)'}: main thread ms${n > 1 ? `, median of ${n} rounds (range)` : ''} (TanStack column: + DataLoader)`, msr(x), msr(y), '≤ TanStack Query + DataLoader', rest ? yes(x.mainThreadMs <= y.mainThreadMs) : dash])
      if (rest && x.mainThreadCpuMsRounds && y.mainThreadCpuMsRounds) {
        // The same rounds' main-thread CPU time (CDP ThreadTime): what the thread ran, without the time it waited for a core.
        const cpur = (c) => `${ms(c.mainThreadCpuMsMedian)} (${ms(Math.min(...c.mainThreadCpuMsRounds))}–${ms(Math.max(...c.mainThreadCpuMsRounds))})`
        rows.push([`storm, REST only: main thread CPU ms (ThreadTime; the goal is judged on the row above), median of ${n} rounds (range)`, cpur(x), cpur(y), '–', dash])
      }
    }
  }
  {
    const x = s(res, 'poll', 'calmfetch')
    const y = s(res, 'poll', 'tanstack')
    const c = res.scenarios.poll?.config
    if (x && c) rows.push([`poll, requests/s for ${c.issueUsers} users × 3 tabs${c.users === c.issueUsers ? '' : ` (${c.users} run, scaled)`}`, rate(x.requestsPerSecondForIssueUsers), y ? rate(y.requestsPerSecondForIssueUsers) : dash, `≤ ${c.goalPerSecond} (floor ${c.floorPerSecond})`, yes(x.requestsPerSecondForIssueUsers <= c.goalPerSecond)])
  }
  return rows
}
const s = (res, name, kind) => res.scenarios?.[name]?.clients?.[kind]

/** The tables of a run, as { title, note, head, rows } objects. */
export function tables(res) {
  const out = []
  const s = res.scenarios
  const goals = goalRows(res)
  if (goals.length) {
    out.push({
      name: 'issue 15: goals',
      title: "issue 15's table, measured in this run: calmfetch and TanStack Query side by side in one page (size: as a bundler ships it; start-up: fresh pages), and the issue's backend goals",
      head: ['what', 'calmfetch', 'TanStack Query', 'goal', 'met'],
      rows: goals,
    })
  }
  for (const name of ['storm', 'storm-rest']) {
    const sc = s[name]
    if (!sc) continue
    const c = sc.config
    const what = c.restOnly
      ? 'open a game page whose 8 components all read over REST (no socket; issue 3\'s storm)'
      : `open a game page (3 REST + 5 realtime components); the socket handshake takes ${c.socketDelayMs / 1000} s, everyone gives up on it after ${c.socketTimeoutMs / 1000} s`
    out.push({
      name,
      title: `${c.users.toLocaleString('en-US')} users arrive within ${c.rampMs / 1000} s and ${what}${c.compressed ? ` (the full run's ramp${c.restOnly ? '' : ' and timeout'} compressed ${c.compressed}×)` : ''}${c.rounds > 1 ? `; run ${c.rounds} times, the clients alternating, each client's row is its round with the median main-thread time` : ''}`,
      head: ['client', 'HTTP requests', 'DB queries', '503s', 'max DB wait ms', 'failed calls', 'page data p50 ms', 'p95 ms', 'pages without data', 'main thread ms', 'heap MB'],
      rows: KINDS.filter((k) => sc.clients[k]).map((k) => {
        const x = sc.clients[k]
        return [LABEL[k], ...common(x), ms(x.maxDbWait), int(x.failedCalls), ms(x.p50), ms(x.p95), int(x.incomplete), ...cpu(x)]
      }),
    })
  }
  for (const name of ['churn', 'churn-real']) {
    const sc = s[name]
    if (!sc) continue
    const c = sc.config
    const k = c.slowMotion
    const speed = k === 1 ? 'at real speed' : `in ${k}× slow motion (times below are real: ${c.dwellMs[0] * k}–${c.dwellMs[1] * k} ms per page, ${c.latencyMs * k} ms latency)`
    const spread = (c.browserPages ?? 1) > 1 ? `, spread over ${c.browserPages} browser pages sharing the CPU` : ', all in one browser page'
    out.push({
      name,
      title: `${c.users} users each visit ${c.pages} pages, ${c.dwellMs[0]}–${c.dwellMs[1]} ms per page, ${c.latencyMs} ms server latency${spread}; run ${speed}${churnFloorText(sc)}`,
      head: ['client', 'HTTP requests', 'DB queries', '503s', 'pages completed', 'wasted responses', 'aborted', 'page data p50 ms', 'p95 ms', 'pages left before data', 'main thread ms', 'heap MB'],
      rows: KINDS.filter((kk) => sc.clients[kk]).map((kk) => {
        const x = sc.clients[kk]
        return [LABEL[kk], ...common(x), `${int(x.complete)} of ${int(x.visits)}`, int(x.wasted), int(x.aborted), ms(x.p50), ms(x.p95), `${int(x.leftEarly)} of ${int(x.visits)}`, ...cpu(x)]
      }),
    })
  }
  if (s.poll) {
    const c = s.poll.config
    out.push({
      name: 'poll',
      title: `${c.users} users${c.users === c.issueUsers ? " (the issue's)" : ` (the issue's ${c.issueUsers} scaled 1:${+(c.issueUsers / c.users).toFixed(1)})`} × 3 tabs poll validate every ${c.validateMs / 1000} s and activity every ${c.activityMs / 1000} s for ${c.durationMs / 1000} s (run ${c.speedUp}× faster); ${c.hiddenTabs} of ${c.tabs} tabs hidden. Requests/s are per second of scenario time, for ${c.issueUsers} users${c.users === c.issueUsers ? '' : ` (this run's × ${+(c.issueUsers / c.users).toFixed(1)}: users share nothing)`}; floor ${c.floorPerSecond} (one activity request per user every ${c.activityMs / 1000} s, validate riding along every other one), goal ≤ ${c.goalPerSecond}. Updates per visible tab count the data callbacks; calmfetch calls back only when the data changed (an answer equal to the last keeps its identity), the peers on every answer`,
      head: ['client', 'HTTP requests', 'DB queries', '503s', `req/s (${c.issueUsers} users)`, 'req/user 1 tab visible', '2 visible', '3 visible', 'updates per visible tab', 'main thread ms', 'heap MB'],
      rows: KINDS.filter((k) => s.poll.clients[k]).map((k) => {
        const x = s.poll.clients[k]
        const byV = x.requestsPerUserByVisible ?? {}
        return [LABEL[k], ...common(x), rate(x.requestsPerSecondForIssueUsers), ms(byV[1]), ms(byV[2]), ms(byV[3]), ms(x.updatesPerVisibleTab), ...cpu(x)]
      }),
    })
  }
  if (s.hover) {
    const c = s.hover.config
    out.push({
      name: 'hover',
      title: `the pointer rests ${c.restMs} ms on a link, then clicks (${c.trials} users per client, ${c.latencyMs} ms server latency); brushing: it crosses 3 other links (~${c.brushMs} ms each) first`,
      head: ['client', 'click-to-data p50 ms', 'p95 ms', 'requests per click', 'brushing: requests per click', 'brushing: DB queries per click', 'brushing: click-to-data p50 ms'],
      rows: KINDS.filter((k) => s.hover.clients[k]).map((k) => {
        const x = s.hover.clients[k]
        return [LABEL[k], ms(x.direct.p50), ms(x.direct.p95), ms(x.direct.requestsPerTrial), ms(x.brushing.requestsPerTrial), ms(x.brushing.dbQueriesPerTrial), ms(x.brushing.p50)]
      }),
    })
  }
  if (res.micro?.hot) {
    out.push({
      name: 'micro: cached get',
      title: `a call for a key that is fresh in the cache, awaited one after another, in one page (median of ${res.micro.hotRounds ?? 1} rounds, the order rotating; range in brackets)`,
      head: ['call', 'ops/s', 'µs per call', 'range µs'],
      rows: Object.entries(res.micro.hot).map(([k, v]) => [k, int(v.opsPerSec), us(1e6 / v.opsPerSec), v.usMin === undefined ? dash : `${us(v.usMin)}–${us(v.usMax)}`]),
    })
  }
  const st = res.micro?.startup
  if (st) {
    out.push({
      name: 'micro: start-up',
      title: `the first client of a fresh page and its first call, until it settles (0 ms server latency; median of ${st.pages} fresh pages each, range in brackets). Main thread: CDP Performance.getMetrics TaskDuration before and after (every task of the renderer's main thread: the synchronous calls, the tasks that load calmfetch's module and replay the queued call, the response's tasks, the driver's evaluate); "above plain fetch" subtracts the same measurement of a plain fetch of the URL. Scenarios start after it`,
      head: ['first …', 'main thread ms', 'range', 'above plain fetch ms', 'sync: constructor ms', 'sync: call ms', 'settled after ms', 'long tasks'],
      rows: [
        ['createClient() + get(url)', st.calmfetch],
        ['new QueryClient() + fetchQuery()', st.tanstack],
        ['fetch(url) + res.json(), no library', st.fetch],
      ].filter(([, x]) => x).map(([n, x]) => [n, ms(x.mainThreadMs), `${ms(x.mainThreadMsMin)}–${ms(x.mainThreadMsMax)}`, ms(x.aboveFloorMs), ms(x.createMs), ms(x.callMs), ms(x.settledMs), int(x.longTasks)]),
    })
  }
  if (res.micro?.concurrent) {
    const n = Object.values(res.micro.concurrent)[0]?.n
    out.push({
      name: 'micro: concurrent',
      title: `${int(n)} identical calls for a cold key at once (median of ${res.micro.rounds} rounds, range in brackets)`,
      head: ['call', 'all settled ms', 'range', 'issuing ms', 'HTTP requests'],
      rows: Object.entries(res.micro.concurrent).map(([k, v]) => [k, ms(v.ms), v.msMin === undefined ? dash : `${ms(v.msMin)}–${ms(v.msMax)}`, ms(v.issuedMs), int(v.httpRequests)]),
    })
  }
  if (res.sizes) {
    out.push({
      name: 'bundle size',
      title: 'esbuild, minified ESM for the browser with code splitting, react/react-dom external (gzip -9, brotli q11): the code an app loads at start; lazy chunks (loaded only when a feature is used) apart',
      head: ['what', 'raw KB', 'gzip KB', 'brotli KB', 'lazy chunks, gzip KB'],
      rows: res.sizes.map((x) => [x.name, kb(x.raw), kb(x.gzip), kb(x.brotli), x.lazyGzip === undefined ? '–' : `${kb(x.lazyGzip)} (persist, socket, stream, polling)`]),
    })
  }
  return out
}

export function textReport(res) {
  return tables(res)
    .map((t) => `${t.name}: ${t.title}\n${textTable(t)}`)
    .join('\n\n')
}

// ---------------------------------------------------------------------------
// chart.svg: grouped bars, server requests per scenario per client, log scale
// ---------------------------------------------------------------------------

const COLORS = { fetch: '#9aa0a6', tanstack: '#f29e4c', 'tanstack+dataloader': '#c2185b', calmfetch: '#1a73e8' }

const escXml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function chartSvg(res) {
  const groups = []
  const s = res.scenarios
  const add = (name, get, scen) => {
    if (!scen) return
    const values = {}
    for (const k of KINDS) if (scen.clients[k]) values[k] = get(scen.clients[k])
    groups.push({ name, values })
  }
  add(s.storm ? `storm (${s.storm.config.users} users)` : '', (c) => c.requests, s.storm)
  add(s['storm-rest'] ? `storm, REST only (${s['storm-rest'].config.users} users)` : '', (c) => c.requests, s['storm-rest'])
  add(s.churn ? `churn, slow (${s.churn.config.users} users)` : '', (c) => c.requests, s.churn)
  add(s['churn-real'] ? `churn, real speed (${s['churn-real'].config.users} users)` : '', (c) => c.requests, s['churn-real'])
  add(s.poll ? `poll (${s.poll.config.users} users × 3 tabs)` : '', (c) => c.requests, s.poll)
  add(s.hover ? `hover, brushing (${s.hover.config.trials} clicks)` : '', (c) => c.brushing.requests, s.hover)

  const W = 860
  const H = 420
  const left = 70
  const right = 20
  const top = 50
  const bottom = 90
  const plotW = W - left - right
  const plotH = H - top - bottom
  const max = Math.max(10, ...groups.flatMap((g) => Object.values(g.values)))
  const decades = Math.ceil(Math.log10(max))
  const y = (v) => top + plotH - (Math.log10(Math.max(1, v)) / decades) * plotH
  const gw = plotW / Math.max(1, groups.length)
  const bw = Math.min(40, (gw - 30) / KINDS.length)
  const parts = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`)
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`)
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">HTTP requests the server received, per scenario and client (log scale)</text>`)
  parts.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${escXml(`${res.meta.mode} run, ${res.meta.date.slice(0, 10)}; fewer is better`)}</text>`)
  for (let d = 0; d <= decades; d++) {
    const yy = y(10 ** d)
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#e0e0e0"/>`)
    parts.push(`<text x="${left - 8}" y="${yy + 4}" text-anchor="end" fill="#555">${(10 ** d).toLocaleString('en-US')}</text>`)
  }
  groups.forEach((g, gi) => {
    const x0 = left + gi * gw + (gw - bw * KINDS.length) / 2
    KINDS.forEach((k, ki) => {
      const v = g.values[k]
      if (v === undefined) return
      const x = x0 + ki * bw
      const yy = y(v)
      parts.push(`<rect x="${x + 2}" y="${yy}" width="${bw - 4}" height="${top + plotH - yy}" fill="${COLORS[k]}"><title>${escXml(`${LABEL[k]}: ${v}`)}</title></rect>`)
      parts.push(`<text x="${x + bw / 2}" y="${yy - 4}" text-anchor="middle" font-size="10" fill="#333">${escXml(v >= 10000 ? `${(v / 1000).toFixed(0)}k` : v.toLocaleString('en-US'))}</text>`)
    })
    parts.push(`<text x="${left + gi * gw + gw / 2}" y="${top + plotH + 18}" text-anchor="middle">${escXml(g.name)}</text>`)
  })
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`)
  let lx = left
  for (const k of KINDS) {
    parts.push(`<rect x="${lx}" y="${H - 34}" width="12" height="12" fill="${COLORS[k]}"/>`)
    parts.push(`<text x="${lx + 18}" y="${H - 24}">${escXml(LABEL[k])}</text>`)
    lx += 18 + LABEL[k].length * 7 + 28
  }
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
