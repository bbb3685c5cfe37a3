// The page of the hook tests. Each `window.__tests[name]()` mounts components
// into a fresh root with a fresh client, watches what they render, unmounts,
// and returns what it saw (tags, render logs, client stats). tests/hooks/run.mjs
// asserts on that and on the reference server's per-tag counters.
import { Component, StrictMode, useEffect, useState } from 'react'
import { createRoot, hydrateRoot } from 'react-dom/client'
import { renderToString } from 'react-dom/server.browser'
import { createClient, CalmfetchError } from 'calmfetch'
import { CalmfetchProvider, useClient, useLive, useMutation, usePoll, usePrefetch, useRequest } from 'calmfetch/react'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const uid = (name) => `hooks-${name}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`
const echo = (tag, extra = '') => `/test/echo?tag=${tag}${extra}`
const count = async (tag) => (await (await fetch(`/test/count?tag=${encodeURIComponent(tag)}`)).json()).count

async function waitFor(cond, what, timeoutMs = 4000) {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = cond()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
}

// Unhandled rejections anywhere in the page (the hook must swallow its own).
const unhandled = []
window.addEventListener('unhandledrejection', (e) => unhandled.push(String(e.reason?.message ?? e.reason)))

function mount(element, rootOptions) {
  const div = document.createElement('div')
  document.body.append(div)
  const root = createRoot(div, rootOptions)
  root.render(element)
  let mounted = true
  return {
    div,
    unmount() {
      if (mounted) {
        mounted = false
        root.unmount()
        div.remove()
      }
    },
  }
}

/** Run `use(m)` on a mounted tree, and unmount it whatever happens. */
async function withMount(m, use) {
  try {
    return await use(m)
  } finally {
    m.unmount()
  }
}

function newLog() {
  return { renders: 0, effects: 0, seen: [], statuses: [], last: null }
}

// Renders one request and records every render into `log`.
function Probe({ url, options, log }) {
  const r = useRequest(url, options)
  log.renders++
  log.last = r
  log.statuses.push(r.status)
  if (r.data !== undefined) log.seen.push(r.data.query.tag)
  useEffect(() => {
    log.effects++
  }, [log])
  return (
    <div className="probe">
      {r.status}:{r.data === undefined ? '' : `${r.data.query.tag}#${r.data.n}`}
    </div>
  )
}

// A Probe whose url / enabled the test changes from outside.
function Controlled({ initialUrl, initialEnabled = true, log }) {
  const [url, setUrl] = useState(initialUrl)
  const [enabled, setEnabled] = useState(initialEnabled)
  log.setUrl = setUrl
  log.setEnabled = setEnabled
  return <Probe url={url} options={{ enabled }} log={log} />
}

// Re-renders on demand with a new, equal, inline options literal each time.
function Rerendering({ url, tag, log }) {
  const [, setN] = useState(0)
  log.rerender = () => setN((n) => n + 1)
  return <Probe url={url} options={{ headers: { 'X-Test-Tag': tag }, partition: 'p1' }} log={log} />
}


// Polls one url and records every render into `log`.
function Poller({ url, intervalMs, log }) {
  const r = usePoll(url, intervalMs)
  log.renders++
  log.last = r
  if (r.data !== undefined) log.seen.push(r.data.n)
  return <div className="poller">{r.status}</div>
}

function Live({ url, options, log }) {
  const r = useLive(url, options)
  log.renders++
  log.last = r
  if (r.data !== undefined) log.seen.push(r.data)
  return <div className="live">{r.status}</div>
}

// A link that prefetches on hover, and the page it opens once clicked.
function LinkAndPage({ url, log }) {
  const [open, setOpen] = useState(false)
  const handlers = usePrefetch(url)
  return open ? (
    <Probe url={url} log={log} />
  ) : (
    <a
      id="hover-link"
      href="#"
      style={{ display: 'inline-block', padding: '20px', margin: '40px' }}
      {...handlers}
      onClick={(e) => {
        e.preventDefault()
        log.clickedAt = performance.now()
        setOpen(true)
      }}
    >
      game
    </a>
  )
}

// A write, and every render of its state into `log`.
function Writer({ url, options, log }) {
  const m = useMutation(url, options)
  log.renders++
  log.last = m
  log.statuses.push(m.status)
  useEffect(() => {
    log.identities.add(m.mutate).add(m.mutateAsync).add(m.reset) // committed renders only
  })
  return <div className="writer">{m.status}</div>
}

const writeLog = () => ({ ...newLog(), identities: new Set() })

/** POSTs wait `ms` before they leave (the hook tests' view of a slow write); returns the undo. */
function slowPosts(ms) {
  const real = window.fetch
  window.fetch = (u, o) => (o?.method === 'POST' ? sleep(ms).then(() => real(u, o)) : real(u, o))
  return () => {
    window.fetch = real
  }
}

class Boundary extends Component {
  constructor(props) {
    super(props)
    this.state = { error: null }
  }
  static getDerivedStateFromError(error) {
    return { error }
  }
  componentDidCatch(error) {
    this.props.log.caught = String(error.message)
  }
  render() {
    return this.state.error ? <div>caught</div> : this.props.children
  }
}

function NoProvider() {
  useClient()
  return <div>no error?</div>
}

// A client whose subscribe is spied on: live subscriptions and listener calls.
function spied(client) {
  const spy = { live: 0, subscribes: 0, calls: 0 }
  const wrapper = {
    get: (u, o) => client.get(u, o),
    peek: (u, o) => client.peek(u, o),
    poll: (u, o) => client.poll(u, o),
    refresh: (u, o) => client.refresh(u, o),
    invalidate: (u) => client.invalidate(u),
    clear: () => client.clear(),
    stats: () => client.stats(),
    subscribe(u, listener, o) {
      const off = client.subscribe(
        u,
        (s) => {
          spy.calls++
          listener(s)
        },
        o,
      )
      spy.live++
      spy.subscribes++
      let on = true
      return () => {
        if (on) {
          on = false
          spy.live--
          off()
        }
      }
    },
  }
  return { client: wrapper, spy }
}

const provide = (client, children, strict = false) => {
  const tree = <CalmfetchProvider client={client}>{children}</CalmfetchProvider>
  return strict ? <StrictMode>{tree}</StrictMode> : tree
}

const tests = {
  async strictMode() {
    const tag = uid('strict')
    const client = createClient()
    const log = newLog()
    return withMount(mount(provide(client, <Probe url={echo(tag, '&delay=150')} log={log} />, true)), async (m) => {
      await waitFor(() => log.last?.status === 'success', 'data')
      await sleep(300) // a second request would have been counted by now
      return { tag, effects: log.effects, text: m.div.textContent, stats: client.stats(), serverCount: await count(tag) }
    })
  },

  async twoComponents() {
    const tag = uid('two')
    const client = createClient()
    const a = newLog()
    const b = newLog()
    const url = echo(tag, '&delay=50')
    return withMount(mount(
      provide(
        client,
        <>
          <Probe url={url} log={a} />
          <Probe url={url} log={b} />
        </>,
      ),
    ), async (m) => {
      await waitFor(() => a.last?.status === 'success' && b.last?.status === 'success', 'both components have data')
      await sleep(200)
      return { tag, texts: [...m.div.querySelectorAll('.probe')].map((d) => d.textContent), stats: client.stats() }
    })
  },

  async unmountRemovesListeners() {
    const tag = uid('unmount')
    const url = echo(tag)
    const { client, spy } = spied(createClient())
    const log = newLog()
    const m = mount(provide(client, <Probe url={url} log={log} />))
    await waitFor(() => log.last?.status === 'success', 'data')
    // While subscribed the client hands out one snapshot object.
    const cachedWhileMounted = client.peek(url) === client.peek(url)
    const liveWhileMounted = spy.live
    m.unmount()
    const rendersAtUnmount = log.renders
    const callsAtUnmount = spy.calls
    client.invalidate(url)
    await client.get(url)
    await sleep(100)
    return {
      tag,
      cachedWhileMounted,
      liveWhileMounted,
      liveAfter: spy.live,
      cachedAfter: client.peek(url) === client.peek(url),
      listenerCallsAfter: spy.calls - callsAtUnmount,
      rendersAfter: log.renders - rendersAtUnmount,
    }
  },

  async urlChangeAborts() {
    const slow = uid('slow')
    const next = uid('next')
    const client = createClient()
    const log = newLog()
    const before = client.stats().cancelledRequests
    return withMount(mount(provide(client, <Controlled initialUrl={echo(slow, '&delay=800')} log={log} />)), async (m) => {
      await waitFor(() => log.last?.isFetching === true, 'the slow request in flight')
      await sleep(150) // the slow request reaches the server
      log.setUrl(echo(next))
      await waitFor(() => log.last?.data?.query.tag === next, 'the new url renders')
      await sleep(900) // past the slow request's answer, had it not been aborted
      return {
        slow,
        next,
        cancelled: client.stats().cancelledRequests - before,
        seen: [...new Set(log.seen)],
        text: m.div.textContent,
      }
    })
  },

  async httpError() {
    const tag = uid('error')
    const client = createClient()
    const log = newLog()
    return withMount(mount(provide(client, <Probe url={echo(tag, '&status=500')} log={log} />)), async (m) => {
      await waitFor(() => log.last?.status === 'error', "status 'error'")
      await sleep(200)
      const e = log.last.error
      return {
        tag,
        status: log.last.status,
        data: log.last.data === undefined ? 'undefined' : 'defined',
        isCalmfetchError: e instanceof CalmfetchError,
        kind: e.kind,
        httpStatus: e.status,
        unhandled: [...unhandled],
      }
    })
  },

  // A backend that answers everything with `Cache-Control: no-store`
  // (Spring Security's default): the hook still shows the data.
  async noStore() {
    const tag = uid('nostore')
    const client = createClient()
    const log = newLog()
    return withMount(mount(provide(client, <Probe url={echo(tag, '&cache=no-store')} log={log} />)), async (m) => {
      let settled = true
      try {
        await waitFor(() => log.last?.status === 'success', "status 'success'", 2000)
      } catch {
        settled = false
      }
      await sleep(200)
      return { tag, settled, status: log.last?.status, seen: log.seen, requests: await count(tag) }
    })
  },

  async nullUrlWaits() {
    const tagNull = uid('null')
    const tagOff = uid('disabled')
    const client = createClient()
    const a = newLog()
    const b = newLog()
    return withMount(mount(
      provide(
        client,
        <>
          <Controlled initialUrl={null} log={a} />
          <Controlled initialUrl={echo(tagOff)} initialEnabled={false} log={b} />
        </>,
      ),
    ), async (m) => {
      await sleep(300)
      const waiting = {
        statuses: [a.last.status, b.last.status],
        fetching: [a.last.isFetching, b.last.isFetching],
        counts: [await count(tagNull), await count(tagOff)],
        networkRequests: client.stats().networkRequests,
      }
      let refetchError = null
      await a.last.refetch().catch((e) => {
        refetchError = { isCalmfetchError: e instanceof CalmfetchError, kind: e.kind }
      })
      a.setUrl(echo(tagNull))
      b.setEnabled(true)
      await waitFor(() => a.last.status === 'success' && b.last.status === 'success', 'both fetch once they have a url')
      await sleep(100)
      return {
        tagNull,
        tagOff,
        waiting,
        refetchError,
        seen: [a.last.data.query.tag, b.last.data.query.tag],
        networkRequests: client.stats().networkRequests,
      }
    })
  },

  async refetchWhenFresh() {
    const tag = uid('refetch')
    const client = createClient()
    const log = newLog()
    return withMount(mount(provide(client, <Probe url={echo(tag)} log={log} />)), async (m) => {
      await waitFor(() => log.last?.status === 'success', 'data')
      const firstN = log.last.data.n
      const staleBefore = log.last.isStale
      const refetch = log.last.refetch
      const body = await refetch()
      await waitFor(() => log.last.data.n === body.n, 'the refetched data renders')
      await sleep(100)
      return { tag, firstN, staleBefore, refetchedN: body.n, renderedN: log.last.data.n, text: m.div.textContent }
    })
  },

  async inlineOptionsDoNotResubscribe() {
    const tag = uid('inline')
    const { client, spy } = spied(createClient())
    const log = newLog()
    // X-Test-Tag counts the request under `tag` at the server.
    return withMount(mount(provide(client, <Rerendering url="/test/echo?inline=1" tag={tag} log={log} />)), async (m) => {
      await waitFor(() => log.last?.status === 'success', 'data')
      const subscribesAfterData = spy.subscribes
      for (let i = 0; i < 5; i++) {
        log.rerender()
        await sleep(20)
      }
      await sleep(100)
      return { tag, subscribesAfterData, subscribes: spy.subscribes, renders: log.renders, stats: client.stats() }
    })
  },

  async noProvider() {
    const log = {}
    return withMount(mount(
      <Boundary log={log}>
        <NoProvider />
      </Boundary>,
      { onCaughtError: () => {} }, // expected: keep the console clean
    ), async (m) => {
      await waitFor(() => log.caught, 'the error boundary')
      return { caught: log.caught }
    })
  },


  async pollShared() {
    const tag = uid('poll')
    const url = echo(tag)
    const client = createClient()
    const a = newLog()
    const b = newLog()
    const m = mount(
      provide(
        client,
        <>
          <Poller url={url} intervalMs={300} log={a} />
          <Poller url={url} intervalMs={300} log={b} />
        </>,
        true,
      ),
    )
    let whileMounted
    try {
      await waitFor(() => a.last?.status === 'success' && b.last?.status === 'success', 'both pollers have data')
      await sleep(1000)
      whileMounted = await count(tag)
    } finally {
      m.unmount()
    }
    await sleep(50)
    const atUnmount = await count(tag)
    await sleep(700)
    return {
      tag,
      whileMounted,
      atUnmount,
      afterUnmount: await count(tag),
      distinctA: new Set(a.seen).size,
      sameData: a.last.data === b.last.data,
      pollTicks: client.stats().pollTicks,
    }
  },

  async liveSocket() {
    const key = `/api/games/${1 + Math.floor(Math.random() * 5)}`
    const client = createClient({ socket: { url: `ws://${location.host}/ws` } })
    const a = newLog()
    const b = newLog()
    return withMount(mount(
      provide(
        client,
        <>
          <Live url={key} log={a} />
          <Live url={key} log={b} />
        </>,
        true,
      ),
    ), async (m) => {
      await waitFor(() => a.last?.status === 'success' && b.last?.status === 'success', 'pushed data')
      const first = a.last.data
      await fetch(`/__bump?path=${encodeURIComponent(key)}`, { method: 'POST' })
      await waitFor(() => a.last.data !== first && b.last.data !== first, 'the bumped data')
      const s = client.stats()
      return {
        networkRequests: s.networkRequests,
        socketSubscribes: s.socketSubscribes,
        socketState: s.socketState,
        changed: JSON.stringify(first) !== JSON.stringify(a.last.data),
      }
    })
  },

  async liveOwnCredentials() {
    // A socket cannot carry a caller's own credentials: such a key is
    // fetched over HTTP, never filled from the socket.
    const tag = uid('livecreds')
    const client = createClient({ socket: { url: `ws://${location.host}/ws` } })
    const a = newLog()
    const b = newLog()
    return withMount(mount(
      provide(
        client,
        <>
          <Live url={echo(tag)} options={{ partition: 'user-b' }} log={a} />
          <Live url={echo(tag)} options={{ headers: { Authorization: 'Bearer alice' } }} log={b} />
        </>,
      ),
    ), async (m) => {
      await waitFor(() => a.last?.status === 'success' && b.last?.status === 'success', 'both over HTTP')
      await sleep(100)
      const s = client.stats()
      return { tag, networkRequests: s.networkRequests, socketSubscribes: s.socketSubscribes, socketState: s.socketState }
    })
  },

  async prefetchLink(step) {
    // Driven from run.mjs with real pointer events: 'mount', then 'result'.
    if (step === 'mount') {
      const tag = uid('hover')
      const client = createClient()
      const log = newLog()
      const m = mount(provide(client, <LinkAndPage url={echo(tag, '&delay=100')} log={log} />))
      window.__hover = { tag, client, log, m }
      return { tag }
    }
    const { tag, client, log, m } = window.__hover
    try {
      await waitFor(() => log.last?.status === 'success', 'the page has data')
      await sleep(100)
      return {
        tag,
        firstStatus: log.statuses[0],
        prefetched: client.stats().prefetched,
        networkRequests: client.stats().networkRequests,
        serverCount: await count(tag),
      }
    } finally {
      m.unmount()
    }
  },

  async prefetchNullUrl() {
    const client = createClient()
    function NullLink() {
      const h = usePrefetch(null)
      h.onMouseEnter()
      h.onTouchStart()
      h.onMouseLeave()
      return <span>ok</span>
    }
    const m = mount(provide(client, <NullLink />))
    await sleep(100)
    m.unmount()
    return { networkRequests: client.stats().networkRequests }
  },

  // useMutation: idle -> pending -> success, stable functions, invalidation
  // refetching a mounted useRequest, errors in `error` (mutate never
  // rejects), reset, and no state set after unmount.
  async mutation() {
    const tag = uid('mutation')
    const failTag = uid('mutation-fail')
    const client = createClient()
    const probe = newLog()
    const ok = writeLog()
    const bad = writeLog()
    const calls = { success: [], error: [] }
    const okOptions = { invalidates: echo(tag), onSuccess: (d, b) => calls.success.push([d, b]) }
    const badOptions = { onError: (e, b) => calls.error.push([e.kind, e.status, b]) }
    const m = mount(
      provide(
        client,
        <>
          <Probe url={echo(tag)} log={probe} />
          <Writer url={(b) => `/__bump?path=${encodeURIComponent(b.path)}`} options={okOptions} log={ok} />
          <Writer url={echo(failTag)} options={badOptions} log={bad} />
        </>,
        true,
      ),
    )
    try {
      await waitFor(() => probe.last?.status === 'success', 'the probe has data')
      const first = { status: ok.last.status, n: probe.last.data.n }
      ok.last.mutate({ path: '/hooks/counter' })
      await waitFor(() => ok.last.status === 'success', 'the write succeeds')
      await waitFor(() => probe.last.data.n === 2, 'the invalidated probe refetched')
      const afterOk = { statuses: [...new Set(ok.statuses)], data: ok.last.data, calls: calls.success.length, count: await count(tag) }
      const result = bad.last.mutate({ x: 1 })
      await waitFor(() => bad.last.status === 'error', 'the failed write shows')
      await sleep(50)
      const afterBad = {
        returned: result === undefined ? 'undefined' : typeof result,
        isCalmfetchError: bad.last.error instanceof CalmfetchError,
        kind: bad.last.error.kind,
        status: bad.last.error.status,
        data: bad.last.data === undefined ? 'undefined' : 'defined',
        calls: [...calls.error],
      }
      let rejected = null
      await bad.last.mutateAsync({ y: 2 }).catch((e) => (rejected = e.kind))
      bad.last.reset()
      await waitFor(() => bad.last.status === 'idle', 'reset')
      const identities = { ok: ok.identities.size, bad: bad.identities.size }
      const pending = ok.last.mutateAsync({ path: '/hooks/counter' })
      m.unmount()
      const rendersAtUnmount = ok.renders
      const late = await pending
      await sleep(50)
      return {
        first,
        afterOk,
        afterBad,
        rejected,
        identities,
        late,
        rendersAfterUnmount: ok.renders - rendersAtUnmount,
        unhandled: [...unhandled],
      }
    } finally {
      m.unmount()
    }
  },

  // An optimistic update shows in a component at once and goes when the write fails.
  async mutationOptimistic() {
    const tag = uid('optimistic')
    const client = createClient()
    const probe = newLog()
    const w = writeLog()
    const texts = []
    const options = { optimistic: { url: echo(tag), update: (c) => ({ ...c, n: 999 }) } }
    const undo = slowPosts(300)
    return withMount(mount(
      provide(
        client,
        <>
          <Probe url={echo(tag)} log={probe} />
          <Writer url={echo(uid('optimistic-fail'))} options={options} log={w} />
        </>,
      ),
    ), async (m) => {
      try {
        await waitFor(() => probe.last?.status === 'success', 'the probe has data')
        const before = m.div.querySelector('.probe').textContent
        w.last.mutate({})
        await waitFor(() => probe.last.data.n === 999, 'the optimistic value renders')
        const during = m.div.querySelector('.probe').textContent
        await waitFor(() => w.last.status === 'error', 'the write fails')
        await waitFor(() => probe.last.data.n !== 999, 'the rollback renders')
        await sleep(50)
        texts.push(before, during, m.div.querySelector('.probe').textContent)
        return { tag, texts, error: w.last.error.status, requests: await count(tag) }
      } finally {
        undo()
      }
    })
  },

  async hydrateFromServer() {
    // A "server" client prefetches and dehydrates; the page is rendered to
    // HTML with a fresh client given the state, then hydrated in the browser
    // with another one. A later page brings newer data for the key on show.
    const tag = uid('hydrate')
    const url = echo(tag)
    const server = createClient({ cache: { ttlMs: 60_000 } })
    const prefetched = await server.prefetch(url)
    const state = JSON.parse(JSON.stringify(server.dehydrate()))
    const tree = (client, st, log) => (
      <CalmfetchProvider client={client} state={st}>
        <Probe url={url} log={log} />
      </CalmfetchProvider>
    )
    const html = renderToString(tree(createClient(), state, newLog()))
    const div = document.createElement('div')
    div.innerHTML = html
    document.body.append(div)
    const recoverable = []
    const client = createClient({ cache: { ttlMs: 60_000 } })
    const log = newLog()
    const root = hydrateRoot(div, tree(client, state, log), { onRecoverableError: (e) => recoverable.push(String(e)) })
    try {
      await waitFor(() => log.effects > 0, 'the hydrated tree commits')
      await sleep(200) // an effect that fetched would have sent its request by now
      const hydrated = { statuses: [...log.statuses], text: div.textContent, networkRequests: client.stats().networkRequests }
      await server.get(url, { fresh: true })
      root.render(tree(client, JSON.parse(JSON.stringify(server.dehydrate())), log))
      await waitFor(() => log.last?.data?.n === 2, 'the newer data of the next page')
      return { prefetched, html, hydrated, recoverable, text: div.textContent, networkRequests: client.stats().networkRequests, serverCount: await count(tag) }
    } finally {
      root.unmount()
      div.remove()
    }
  },

  unhandledRejections() {
    return [...unhandled]
  },
}

window.__tests = tests
window.__ready = true
