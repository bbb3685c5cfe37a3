// The demo app: a games list, game pages made of many components, the
// fetch/calmfetch switch, the navigation storm, and the live panel.
import { useCallback, useEffect, useState, useSyncExternalStore } from 'react'
import {
  AppProvider, clients, initialMode, metrics, stormResults, resetMetrics, useData, useGameLinkPrefetch,
} from './data.js'
import {
  Activity, BetSlip, Bills, Chat, GameHeader, Leaderboard, NotificationsCard, Odds, Players, Scoreboard, TopBar, Validate,
} from './widgets.jsx'
import { Panel } from './panel.jsx'

// --- a tiny router (history API; the server answers index.html for any path)
const listeners = new Set()
function subscribeLocation(fn) {
  listeners.add(fn)
  window.addEventListener('popstate', fn)
  return () => {
    listeners.delete(fn)
    window.removeEventListener('popstate', fn)
  }
}
export function navigate(path) {
  if (path === location.pathname) return
  history.pushState(null, '', path + location.search)
  metrics.pageViews++
  for (const fn of listeners) fn()
}
function usePath() {
  return useSyncExternalStore(subscribeLocation, () => location.pathname)
}

function Link({ to, children, ...rest }) {
  return (
    <a href={to + location.search} onClick={(e) => { e.preventDefault(); navigate(to) }} {...rest}>
      {children}
    </a>
  )
}

// --- the navigation storm: 20 game pages in 4 s -------------------------------
const storm = { running: false, step: 0, total: 20, runs: 0, last: null }
const stormListeners = new Set()
function stormChanged() {
  for (const fn of stormListeners) fn()
}
let stormSnapshot = { ...storm }
function useStorm() {
  return useSyncExternalStore(
    (fn) => { stormListeners.add(fn); return () => stormListeners.delete(fn) },
    () => stormSnapshot,
  )
}
async function serverRequests() {
  try {
    const r = await fetch('/__stats', { cache: 'no-store' })
    return (await r.json()).requests
  } catch {
    return NaN
  }
}
export async function startStorm(mode, pages = 20, everyMs = 200) {
  if (storm.running) return
  storm.running = true
  const before = await serverRequests()
  const askedBefore = metrics.asked
  // Start after the game on screen, so that every step changes the page.
  const from = Number(/^\/games\/(\d+)$/.exec(location.pathname)?.[1] ?? 0)
  Object.assign(storm, { step: 0, total: pages, last: ((from + pages - 1) % 20) + 1 })
  stormSnapshot = { ...storm }
  stormChanged()
  const t = setInterval(() => {
    storm.step++
    navigate(`/games/${((from + storm.step - 1) % 20) + 1}`)
    if (storm.step >= storm.total) {
      clearInterval(t)
      // Let the last page's requests finish, then ask the server what it cost.
      setTimeout(async () => {
        const after = await serverRequests()
        stormResults.push({ mode, requests: after - before, asked: metrics.asked - askedBefore })
        storm.running = false
        storm.runs++
        stormSnapshot = { ...storm }
        stormChanged()
      }, 1500)
    }
    stormSnapshot = { ...storm }
    stormChanged()
  }, everyMs)
}

// --- pages ------------------------------------------------------------------
/** A link to a game page; in calmfetch mode, resting on it prefetches the game. */
function GameLink({ mode, id, children, ...rest }) {
  const prefetch = useGameLinkPrefetch(mode, id)
  return <Link to={`/games/${id}`} data-game={id} {...rest} {...prefetch}>{children}</Link>
}

function GamesList({ mode }) {
  const r = useData(mode, '/api/games')
  return (
    <div>
      <TopBar mode={mode} />
      <h2>Tonight's games</h2>
      <p className="muted">
        {mode === 'calmfetch'
          ? 'Rest the pointer on a game for 65 ms and calmfetch prefetches its page (usePrefetch); brushing past a link costs nothing.'
          : 'Plain fetch: nothing is prefetched; each page loads when you open it.'}
      </p>
      {r.data === undefined ? <p className="muted">loading…</p> : (
        <ul className="games" data-testid="games">
          {r.data.map((g) => (
            <li key={g.id}>
              <GameLink mode={mode} id={g.id}>{g.name}</GameLink>
              <span className="muted"> {Array.isArray(g.players) ? g.players.length : g.players} players</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}

function GamesNav({ mode, id }) {
  const r = useData(mode, '/api/games')
  const games = r.data ?? []
  return (
    <nav className="gamesnav" data-testid="gamesnav">
      <Link to="/" data-testid="home">← all games</Link>
      {games.slice(0, 20).map((g) => (
        <GameLink key={g.id} mode={mode} id={g.id} className={g.id === id ? 'on' : ''}>{g.id}</GameLink>
      ))}
    </nav>
  )
}

function GamePage({ mode, id }) {
  return (
    <div data-testid="game-page" data-game={id}>
      <GamesNav mode={mode} id={id} />
      <TopBar mode={mode} />
      <GameHeader mode={mode} id={id} />
      <Activity mode={mode} compact />
      <div className="grid">
        <Scoreboard mode={mode} id={id} />
        <Odds mode={mode} id={id} />
        <BetSlip mode={mode} id={id} />
        <Players mode={mode} id={id} />
        <Chat mode={mode} id={id} />
        <Leaderboard mode={mode} />
        <NotificationsCard mode={mode} />
        <Bills mode={mode} />
      </div>
    </div>
  )
}

// --- shell ------------------------------------------------------------------
function ModeSwitch({ mode, setMode }) {
  return (
    <div className="switch" role="radiogroup" aria-label="fetching">
      <button role="radio" aria-checked={mode === 'plain'} className={mode === 'plain' ? 'on plain' : ''} onClick={() => setMode('plain')} data-testid="mode-plain">
        plain fetch
      </button>
      <button role="radio" aria-checked={mode === 'calmfetch'} className={mode === 'calmfetch' ? 'on calm' : ''} onClick={() => setMode('calmfetch')} data-testid="mode-calmfetch">
        calmfetch
      </button>
    </div>
  )
}

function Fragile() {
  const [on, setOn] = useState(false)
  const toggle = async () => {
    const knobs = on ? { dbPool: 50, latencyMs: 0, queueTimeoutMs: 1000 } : { dbPool: 4, latencyMs: 30, queueTimeoutMs: 300 }
    const r = await fetch('/__knobs', { method: 'POST', body: JSON.stringify(knobs) })
    if (r.ok) setOn(!on)
  }
  return (
    <label className="fragile" title="POST /__knobs: dbPool 4, latency 30 ms, queue timeout 300 ms">
      <input type="checkbox" checked={on} onChange={toggle} /> fragile backend
    </label>
  )
}

export function App() {
  const [mode, setModeState] = useState(initialMode)
  const path = usePath()
  const s = useStorm()
  const setMode = useCallback((m) => {
    if (m === mode) return
    const q = new URLSearchParams(location.search)
    q.set('mode', m)
    history.replaceState(null, '', `${location.pathname}?${q}`)
    for (const c of clients) c.clear() // start calmfetch from a cold cache every time: a fair comparison
    setModeState(m)
  }, [mode])
  const match = /^\/games\/(\d+)$/.exec(path)
  const id = match ? Number(match[1]) : null
  useEffect(() => {
    // For the e2e tests and curious people with DevTools open.
    window.__demo = { clients, metrics, resetMetrics, storm: () => stormSnapshot, mode, navigate, startStorm, stormResults }
  }, [mode])

  const body = (
    <div className="layout">
      <main>
        <div className="toolbar">
          <Link to="/" className="brand">GameNight</Link>
          <ModeSwitch mode={mode} setMode={setMode} />
          <button className="storm" disabled={s.running} onClick={() => startStorm(mode)} data-testid="storm">
            {s.running ? (s.step < s.total ? `storm ${s.step}/${s.total}…` : 'counting…') : 'Storm: 20 pages in 4 s'}
          </button>
          <span data-testid="storm-state" data-running={String(s.running)} data-runs={s.runs} data-last={s.last ?? ''} hidden />
          <Fragile />
        </div>
        {/* key={mode}: flipping the switch remounts every component */}
        <div key={mode}>
          {id == null ? <GamesList mode={mode} /> : <GamePage key={id} mode={mode} id={id} />}
          <div className="grid">
            <Activity mode={mode} />
            <Validate mode={mode} />
          </div>
        </div>
      </main>
      <Panel mode={mode} />
    </div>
  )
  return <AppProvider>{body}</AppProvider>
}
