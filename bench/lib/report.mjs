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

/** The tables of a run, as { title, note, head, rows } objects. */
export function tables(res) {
  const out = []
  const s = res.scenarios
  if (s.storm) {
    const c = s.storm.config
    out.push({
      name: 'storm',
      title: `${c.users.toLocaleString('en-US')} users arrive within ${c.rampMs / 1000} s and open a game page (3 REST + 5 realtime components); the socket handshake takes ${c.socketDelayMs / 1000} s, everyone gives up on it after ${c.socketTimeoutMs / 1000} s${c.compressed ? ` (the full run's ramp and timeout compressed ${c.compressed}×)` : ''}`,
      head: ['client', 'HTTP requests', 'DB queries', '503s', 'max DB wait ms', 'failed calls', 'page data p50 ms', 'p95 ms', 'pages without data', 'main thread ms', 'heap MB'],
      rows: KINDS.filter((k) => s.storm.clients[k]).map((k) => {
        const x = s.storm.clients[k]
        return [LABEL[k], ...common(x), ms(x.maxDbWait), int(x.failedCalls), ms(x.p50), ms(x.p95), int(x.incomplete), ...cpu(x)]
      }),
    })
  }
  if (s.churn) {
    const c = s.churn.config
    const k = c.slowMotion
    out.push({
      name: 'churn',
      title: `${c.users} users each visit ${c.pages} pages, ${c.dwellMs[0]}–${c.dwellMs[1]} ms per page, ${c.latencyMs} ms server latency; run in ${k}× slow motion (times below are real: ${c.dwellMs[0] * k}–${c.dwellMs[1] * k} ms per page, ${c.latencyMs * k} ms latency)${churnFloorText(s.churn)}`,
      head: ['client', 'HTTP requests', 'DB queries', '503s', 'wasted responses', 'aborted', 'page data p50 ms', 'p95 ms', 'pages left before data', 'main thread ms', 'heap MB'],
      rows: KINDS.filter((k) => s.churn.clients[k]).map((k) => {
        const x = s.churn.clients[k]
        return [LABEL[k], ...common(x), int(x.wasted), int(x.aborted), ms(x.p50), ms(x.p95), `${int(x.leftEarly)} of ${int(x.visits)}`, ...cpu(x)]
      }),
    })
  }
  if (s.poll) {
    const c = s.poll.config
    out.push({
      name: 'poll',
      title: `${c.users} users (the issue's ${c.issueUsers} scaled 1:${+(c.issueUsers / c.users).toFixed(1)}) × 3 tabs poll validate every ${c.validateMs / 1000} s and activity every ${c.activityMs / 1000} s for ${c.durationMs / 1000} s (run ${c.speedUp}× faster); ${c.hiddenTabs} of ${c.tabs} tabs hidden`,
      head: ['client', 'HTTP requests', 'DB queries', '503s', 'req/user 1 tab visible', '2 visible', '3 visible', 'updates per visible tab', 'main thread ms', 'heap MB'],
      rows: KINDS.filter((k) => s.poll.clients[k]).map((k) => {
        const x = s.poll.clients[k]
        const byV = x.requestsPerUserByVisible ?? {}
        return [LABEL[k], ...common(x), ms(byV[1]), ms(byV[2]), ms(byV[3]), ms(x.updatesPerVisibleTab), ...cpu(x)]
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
      name: 'micro: hot get',
      title: 'a `get` of a key that is fresh in the cache, awaited one after another',
      head: ['call', 'ops/s', 'µs per call'],
      rows: Object.entries(res.micro.hot).map(([k, v]) => [k, int(v.opsPerSec), (1e6 / v.opsPerSec).toFixed(2)]),
    })
  }
  if (res.micro?.startupMs !== undefined) {
    out.push({
      name: 'micro: start-up',
      title: "calmfetch's one-time start-up in a page (the first createClient decodes and compiles the inlined wasm, on the main thread; median of 3 fresh pages). Scenarios start after it.",
      head: ['what', 'ms'],
      rows: [['first createClient()', ms(res.micro.startupMs)]],
    })
  }
  if (res.micro?.concurrent) {
    const n = Object.values(res.micro.concurrent)[0]?.n
    out.push({
      name: 'micro: concurrent',
      title: `${int(n)} identical calls for a cold key at once (median of ${res.micro.rounds} rounds)`,
      head: ['call', 'all settled ms', 'issuing ms', 'HTTP requests'],
      rows: Object.entries(res.micro.concurrent).map(([k, v]) => [k, ms(v.ms), ms(v.issuedMs), int(v.httpRequests)]),
    })
  }
  if (res.sizes) {
    out.push({
      name: 'bundle size',
      title: 'esbuild, minified ESM for the browser, react/react-dom external (gzip -9, brotli q11)',
      head: ['what', 'raw KB', 'gzip KB', 'brotli KB'],
      rows: res.sizes.map((x) => [x.name, kb(x.raw), kb(x.gzip), kb(x.brotli)]),
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
  add(s.churn ? `churn (${s.churn.config.users} users)` : '', (c) => c.requests, s.churn)
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
