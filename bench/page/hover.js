// hover: a column of four links to game pages. run.mjs moves the real
// pointer (Playwright's mouse, i.e. CDP input events) over them and clicks;
// this page records when the pointer entered and left each link and how long
// the click took to have its data.
import { makeClient } from './clients.js'

let trial = null

/** A fresh user (own client, own cache) with links to `ids`. */
export async function hoverSetup({ kind, user, ids }) {
  const nav = document.getElementById('links') ?? document.body.appendChild(Object.assign(document.createElement('nav'), { id: 'links' }))
  nav.innerHTML = ''
  const c = makeClient(kind, user)
  // The page the user is on already talks to the API: warm the connection
  // with an uncounted request, the same for every client.
  await fetch(`${location.protocol}//u${user}.bench:${location.port}/test/count?tag=warm`).then((r) => r.text())
  const t = { c, cleanups: [], dwell: {}, clickToData: null, hoverBeforeClick: null, error: null }
  ids.forEach((id, i) => {
    const a = document.createElement('a')
    a.id = `l${i + 1}`
    a.href = `#/games/${id}`
    a.textContent = `game ${id}`
    a.style.cssText = 'display:block;width:320px;height:36px;margin:0 0 8px 0;background:#eef'
    const path = `/api/games/${id}`
    t.cleanups.push(c.hover(a, path))
    a.addEventListener('mouseenter', () => (t.dwell[a.id] = { in: performance.now(), ms: null }))
    a.addEventListener('mouseleave', () => (t.dwell[a.id].ms = performance.now() - t.dwell[a.id].in))
    a.addEventListener('click', (e) => {
      e.preventDefault()
      const t0 = performance.now()
      t.hoverBeforeClick = t0 - t.dwell[a.id].in
      c.read(path).then(
        () => (t.clickToData = performance.now() - t0),
        (err) => {
          t.error = String(err?.message ?? err)
          t.clickToData = performance.now() - t0
        },
      )
    })
    nav.append(a)
  })
  trial = t
}

export function hoverResult() {
  const t = trial
  return { clickToData: t.clickToData, hoverBeforeClick: t.hoverBeforeClick, error: t.error, dwell: Object.fromEntries(Object.entries(t.dwell).map(([k, v]) => [k, v.ms])) }
}

export function hoverTeardown() {
  const t = trial
  trial = null
  for (const f of t.cleanups) f()
  t.c.destroy()
  document.getElementById('links').innerHTML = ''
  return t.c.client ? t.c.client.stats() : null
}
