// The live panel: what the components asked for, what left the browser, what
// the server saw (its own GET /__stats), and a hand-drawn SVG chart over time.
import { useEffect, useRef, useState } from 'react'
import { calmHttpRequests, calmStats, metrics, resetMetrics, stormResults } from './data.js'

const SAMPLE_MS = 500
const WINDOW = 60 // samples shown in the chart (30 s)

const CF_KEYS = [
  'requested', 'networkRequests', 'dedupHits', 'cacheHits', 'batchesSent', 'batchedItems', 'pollTicks', 'errors',
  'prefetched', 'prefetchSkipped', 'socketMessages', 'socketReconnects',
]

function minus(a, b) {
  const out = {}
  for (const k of CF_KEYS) out[k] = (a?.[k] ?? 0) - (b?.[k] ?? 0)
  return out
}

export function Panel({ mode }) {
  const [snap, setSnap] = useState(null)
  const samples = useRef([])
  const cfBase = useRef(calmStats())

  useEffect(() => {
    let live = true
    let timer
    const sample = async () => {
      let server = null
      try {
        // Control route: not counted by the server, not sent through calmfetch.
        const r = await fetch('/__stats', { cache: 'no-store' })
        if (r.ok) server = await r.json()
      } catch {
        // server gone: keep the last numbers
      }
      if (!live) return
      const now = calmStats()
      const cf = { ...minus(now, cfBase.current), socketState: now.socketState, socketSubscriptions: now.socketSubscriptions }
      const prev = samples.current.at(-1)
      const point = {
        mode,
        asked: metrics.asked,
        server: server?.requests ?? prev?.server ?? 0,
        t: Date.now(),
      }
      samples.current = [...samples.current, point].slice(-(WINDOW + 1))
      setSnap({ server, cf, m: { ...metrics } })
      timer = setTimeout(sample, SAMPLE_MS)
    }
    sample()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [mode])

  const reset = async () => {
    await fetch('/__reset', { method: 'POST' }).catch(() => {})
    resetMetrics()
    cfBase.current = calmStats()
  }

  const s = snap?.server
  const cf = snap?.cf ?? minus({}, {})
  const m = snap?.m ?? metrics
  const browserSent = mode === 'plain' ? m.plainRequests : calmHttpRequests(cf)
  const calm = mode === 'calmfetch'
  const serverReq = s?.requests ?? 0
  const saved = m.asked > 0 ? Math.max(0, 1 - serverReq / m.asked) : 0

  return (
    <aside className="panel" data-testid="panel">
      <div className="panel-head">
        <h2>Live panel</h2>
        <span className={`mode-tag ${mode}`} data-testid="panel-mode">{mode === 'plain' ? 'plain fetch' : 'calmfetch'}</span>
        <button onClick={reset} data-testid="reset" title="POST /__reset and zero the browser counters">reset</button>
      </div>

      <div className="headline">
        <div><b data-testid="asked">{m.asked}</b><span>asked by components</span></div>
        <div className="arrow">→</div>
        <div><b data-testid="server-requests">{serverReq}</b><span>requests the server handled</span></div>
        <div className={`saved ${saved > 0.5 ? 'good' : ''}`}><b>{Math.round(saved * 100)}%</b><span>saved</span></div>
      </div>

      <Chart samples={samples.current} />

      <Storms />

      <table className="nums">
        <tbody>
          <tr><th colSpan="2">browser</th><th colSpan="2">server (GET /__stats)</th></tr>
          <tr><td>HTTP sent</td><td data-testid="browser-sent">{browserSent}</td><td>requests</td><td>{serverReq}</td></tr>
          <tr><td>dedup hits</td><td data-testid="dedup-hits">{calm ? cf.dedupHits : '–'}</td><td>DB queries</td><td>{s?.dbQueries ?? '–'}</td></tr>
          <tr><td title="asks a fresh cache entry answered: at mount (hooks) or on get">cache hits</td><td data-testid="cache-hits">{calm ? m.fromCache + cf.cacheHits : '–'}</td><td className={s?.status503 ? 'bad' : ''}>503s (pool)</td><td className={s?.status503 ? 'bad' : ''} data-testid="s503">{s?.status503 ?? '–'}</td></tr>
          <tr><td>batches / items</td><td data-testid="batches">{calm ? `${cf.batchesSent} / ${cf.batchedItems}` : '–'}</td><td>batch items</td><td>{s?.batchItems ?? '–'}</td></tr>
          <tr><td>poll ticks</td><td>{calm ? cf.pollTicks : '–'}</td><td>max concurrent</td><td>{s?.maxConcurrentRequests ?? '–'}</td></tr>
          <tr><td>prefetched</td><td data-testid="prefetched">{calm ? cf.prefetched : '–'}</td><td>max DB wait</td><td>{s ? `${Math.round(s.maxDbWait ?? 0)} ms` : '–'}</td></tr>
          <tr><td>errors</td><td>{calm ? cf.errors : m.plainErrors}</td><td>page views</td><td>{m.pageViews}</td></tr>
          <tr>
            <td>socket</td><td data-testid="socket-state">{calm ? cf.socketState ?? '–' : 'not used'}</td>
            <td>sockets open</td><td data-testid="server-sockets">{s?.socket?.open ?? '–'}</td>
          </tr>
          <tr>
            <td>socket pushes</td><td>{calm ? cf.socketMessages : '–'}</td>
            <td>socket keys</td><td>{s?.socket?.subscriptions ?? '–'}</td>
          </tr>
        </tbody>
      </table>
      <p className="foot">“asked” counts one per component mount or URL change and one per poll interval per widget. “HTTP sent” counts a batch once. Server counters exclude /__*, static files and socket messages.</p>
    </aside>
  )
}

/** The last storm of each mode: what 20 page views cost the server. */
function Storms() {
  const last = {}
  for (const r of stormResults) last[r.mode] = r
  const rows = ['plain', 'calmfetch'].filter((m) => last[m])
  const max = Math.max(1, ...rows.map((m) => last[m].requests))
  return (
    <div className="storms" data-testid="storms">
      <div className="storms-title">storm: 20 pages in 4 s, server requests</div>
      {rows.length === 0 && <div className="muted">press “Storm” in each mode to compare</div>}
      {rows.map((m) => (
        <div className="storm-row" key={m}>
          <span className="storm-label">{m === 'plain' ? 'plain fetch' : 'calmfetch'}</span>
          <span className="storm-bar"><span className={m} style={{ width: `${Math.max(1, (100 * last[m].requests) / max)}%` }} /></span>
          <b data-testid={`storm-${m}`}>{last[m].requests}</b>
        </div>
      ))}
    </div>
  )
}

/** Requests per second over the last minute: asked (dashed) vs server (solid). */
function Chart({ samples }) {
  const W = 340, H = 130, L = 30, R = 8, T = 10, B = 18
  const rates = []
  for (let i = 1; i < samples.length; i++) {
    const dt = Math.max(0.001, (samples[i].t - samples[i - 1].t) / 1000)
    rates.push({
      mode: samples[i].mode,
      asked: Math.max(0, samples[i].asked - samples[i - 1].asked) / dt,
      server: Math.max(0, samples[i].server - samples[i - 1].server) / dt,
    })
  }
  const max = niceMax(Math.max(5, ...rates.map((r) => Math.max(r.asked, r.server))))
  const shift = WINDOW - rates.length // newest sample at the right edge
  const x = (i) => L + ((i + shift) / (WINDOW - 1)) * (W - L - R)
  const y = (v) => T + (1 - v / max) * (H - T - B)
  const path = (key) => rates.map((r, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(r[key]).toFixed(1)}`).join(' ')
  const ticks = [0, max / 2, max]
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="requests per second">
      {rates.map((r, i) => (
        <rect key={i} x={x(i) - (W - L - R) / (WINDOW - 1) / 2} y={T} width={(W - L - R) / (WINDOW - 1)} height={H - T - B}
          className={r.mode === 'plain' ? 'band-plain' : 'band-calm'} />
      ))}
      {ticks.map((v) => (
        <g key={v}>
          <line x1={L} x2={W - R} y1={y(v)} y2={y(v)} className="grid-line" />
          <text x={L - 4} y={y(v) + 3} textAnchor="end" className="tick">{Math.round(v)}</text>
        </g>
      ))}
      <text x={L} y={H - 4} className="tick">−30 s</text>
      <text x={W - R} y={H - 4} textAnchor="end" className="tick">now · per second</text>
      {rates.length > 1 && <path d={path('asked')} className="line-asked" />}
      {rates.length > 1 && <path d={path('server')} className="line-server" />}
      <g transform={`translate(${L + 6},${T + 4})`}>
        <line x1="0" x2="14" y1="4" y2="4" className="line-asked" /><text x="18" y="7" className="legend">asked</text>
        <line x1="62" x2="76" y1="4" y2="4" className="line-server" /><text x="80" y="7" className="legend">server requests</text>
      </g>
    </svg>
  )
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= v) return f * p
  return 10 * p
}
