// The game page's components. Each one asks for the data it needs, exactly
// like the components of the incident did: several want the same URLs.
import { useState } from 'react'
import { useMutation } from 'calmfetch/react'
import { INTERVALS, LiveProvider, useData, useLiveData, usePolled } from './data.js'

function Card({ title, urls, children, wide, testid }) {
  return (
    <section className={wide ? 'card wide' : 'card'} data-testid={testid}>
      <header>
        <h3>{title}</h3>
        <span className="urls">{urls.join(' · ')}</span>
      </header>
      {children}
    </section>
  )
}

/** What a component shows for its data; `data-state` lets the e2e tests see when data arrived. */
function Body({ r, children }) {
  if (r.error && r.data === undefined) return <div data-state="error"><p className="err">⚠ {String(r.error.message ?? r.error)}</p></div>
  if (r.data === undefined) return <div data-state="loading"><p className="muted">loading…</p></div>
  return <div data-state="data">{children(r.data)}</div>
}

export function GameHeader({ mode, id }) {
  const r = useData(mode, `/api/games/${id}`)
  return (
    <div className="game-header" data-testid="game-header">
      <Body r={r}>{(g) => <><h2>{g.name}</h2><span className="muted">{g.players} players</span></>}</Body>
    </div>
  )
}

/** The live score: pushed over the socket in calmfetch mode, polled in plain mode. */
export function Scoreboard({ mode, id }) {
  return (
    <LiveProvider>
      <LiveScore mode={mode} id={id} />
    </LiveProvider>
  )
}

function LiveScore({ mode, id }) {
  const url = `/api/games/${id}`
  const r = useLiveData(mode, url, INTERVALS.score)
  const [goals, setGoals] = useState(0)
  // The reference server bumps the game's data and pushes it to subscribed
  // sockets. The write invalidates the game: a key the open socket keeps
  // live is not fetched again (the push brings it), any other is.
  const { mutate: goal } = useMutation(`/__bump?path=${encodeURIComponent(url)}`, {
    invalidates: url,
    onSuccess: () => setGoals((n) => n + 1),
  })
  return (
    <Card title="Live score" urls={[mode === 'plain' ? `${url} · ${INTERVALS.score / 1000} s` : `${url} · socket`]} testid="score">
      <Body r={r}>{(g) => (
        <>
          <p className="score" data-testid="score-value">{g.score.home} : {g.score.away}</p>
          <p className="muted">{g.status} <button className="goal" onClick={() => goal()} data-testid="goal" title="POST /__bump: the server changes the game and pushes it">goal!</button>{goals > 0 ? ` ×${goals}` : ''}</p>
        </>
      )}</Body>
    </Card>
  )
}

export function Players({ mode, id }) {
  const r = useData(mode, `/api/games/${id}/players`)
  return (
    <Card title="Players" testid="players" urls={['…/players']}>
      <Body r={r}>{(d) => <ul>{d.players.slice(0, 5).map((p) => <li key={p.id}>{p.name} <b>{p.score}</b></li>)}</ul>}</Body>
    </Card>
  )
}

export function Odds({ mode, id }) {
  const r = useData(mode, `/api/games/${id}/odds`)
  return (
    <Card title="Odds" testid="odds" urls={['…/odds']}>
      <Body r={r}>{(o) => <p className="odds"><span>1 <b>{o.home}</b></span><span>X <b>{o.draw}</b></span><span>2 <b>{o.away}</b></span></p>}</Body>
    </Card>
  )
}

export function BetSlip({ mode, id }) {
  const odds = useData(mode, `/api/games/${id}/odds`)
  const user = useData(mode, '/api/user')
  const bills = useData(mode, '/api/bills')
  return (
    <Card title="Bet slip" testid="betslip" urls={['…/odds', '/api/user', '/api/bills']}>
      <Body r={odds}>{(o) => (
        <p>{user.data?.user ?? '…'} backs home at <b>{o.home}</b>; balance due <b>{bills.data?.total ?? '…'}</b></p>
      )}</Body>
    </Card>
  )
}

export function Chat({ mode, id }) {
  const chat = useData(mode, `/api/games/${id}/chat`)
  const user = useData(mode, '/api/user')
  return (
    <Card title="Chat" testid="chat" urls={['…/chat', '/api/user']}>
      <Body r={chat}>{(c) => (
        <ul className="chat">{c.messages.slice(0, 3).map((m) => (
          <li key={m.id} className={m.from === user.data?.user ? 'me' : ''}><b>{m.from}</b> {m.text}</li>
        ))}</ul>
      )}</Body>
    </Card>
  )
}

export function Leaderboard({ mode }) {
  const r = useData(mode, '/api/leaderboard')
  const user = useData(mode, '/api/user')
  return (
    <Card title="Leaderboard" testid="leaderboard" urls={['/api/leaderboard', '/api/user']}>
      <Body r={r}>{(d) => (
        <ol>{d.entries.slice(0, 4).map((e) => (
          <li key={e.rank} className={e.name === user.data?.user ? 'me' : ''}>{e.name} <b>{e.points}</b></li>
        ))}</ol>
      )}</Body>
    </Card>
  )
}

export function NotificationsCard({ mode }) {
  const r = useData(mode, '/api/notifications')
  // A write that changes the notifications (the reference server bumps their
  // version) invalidates exactly them: the card and the top bar refetch them once.
  const read = useMutation('/__bump?path=/api/notifications', { invalidates: '/api/notifications' })
  return (
    <Card title="Notifications" testid="notifications" urls={['/api/notifications']}>
      <Body r={r}>{(n) => (
        <p>
          <span data-testid="notifications-text">{n.unread} unread of {Array.isArray(n.items) ? n.items.length : n.items} (v{n.version})</span>{' '}
          <button onClick={() => read.mutate()} disabled={read.status === 'pending'} data-testid="mark-read" title="POST /__bump: the server changes the notifications">mark all read</button>
          {read.status === 'error' ? <span className="err"> ⚠ {read.error.message}</span> : null}
        </p>
      )}</Body>
    </Card>
  )
}

export function Bills({ mode }) {
  const r = useData(mode, '/api/bills')
  return (
    <Card title="Bills" testid="bills" urls={['/api/bills']}>
      <Body r={r}>{(b) => <p>{Array.isArray(b.bills) ? b.bills.length : b.bills} bills, total <b>{b.total}</b></p>}</Body>
    </Card>
  )
}

/** Top bar: user menu, notification bell, bills badge. */
export function TopBar({ mode }) {
  const user = useData(mode, '/api/user')
  const notes = useData(mode, '/api/notifications')
  const bills = useData(mode, '/api/bills')
  return (
    <div className="topbar">
      <span>signed in as <b>{user.data?.user ?? '…'}</b></span>
      <span>notifications <b>{notes.data?.unread ?? '…'}</b></span>
      <span>due <b>{bills.data?.total ?? '…'}</b></span>
    </div>
  )
}

/** Polled every 5 s: both the sidebar feed and the page ticker want it. */
export function Activity({ mode, compact }) {
  const r = usePolled(mode, '/api/activity', INTERVALS.activity)
  const events = Array.isArray(r.data?.events) ? r.data.events : []
  if (compact) {
    const e = events[0]
    return (
      <div className="ticker" data-testid="ticker">
        <b>live</b> {e ? `${e.who} ${e.what} on game ${e.game}` : '…'}
        <span className="muted"> · /api/activity every {INTERVALS.activity / 1000} s</span>
      </div>
    )
  }
  return (
    <Card title="Activity" testid="activity" urls={[`/api/activity · ${INTERVALS.activity / 1000} s`]}>
      <ul>{events.slice(0, 3).map((e) => <li key={e.id}>{e.who} {e.what} <span className="muted">#{e.game}</span></li>)}</ul>
    </Card>
  )
}

/** Polled every 10 s: the sign-up field's server-side validation. */
export function Validate({ mode }) {
  const [value, setValue] = useState('alice')
  const r = usePolled(mode, `/api/validate?value=${encodeURIComponent(value)}`, INTERVALS.validate)
  return (
    <Card title="Nickname" testid="validate" urls={[`/api/validate · ${INTERVALS.validate / 1000} s`]}>
      <input value={value} onChange={(e) => setValue(e.target.value)} aria-label="nickname" />
      <p className={r.data?.valid ? 'ok' : 'err'}>{r.data ? (r.data.valid ? 'valid' : 'too short (3+ characters)') : '…'}</p>
    </Card>
  )
}
