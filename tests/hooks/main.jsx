// The page of the hook tests. Each `window.__tests[name]()` mounts components
// into a fresh root with a fresh client, watches what they render, unmounts,
// and returns what it saw (tags, render logs, client stats). tests/hooks/run.mjs
// asserts on that and on the reference server's per-tag counters.
import { Component, StrictMode, Suspense, useEffect, useState } from 'react'
import { createRoot, hydrateRoot } from 'react-dom/client'
import { renderToString } from 'react-dom/server.browser'
import { createClient, CalmfetchError } from 'calmfetch'
import { CalmfetchProvider, useClient, useLive, useMutation, usePoll, usePrefetch, useRequest, useSuspenseRequest } from 'calmfetch/react'

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
  // (The hook re-renders for the fields a component reads: this one shows them all.)
  return (
    <div className="probe" data-fetching={r.isFetching} data-stale={r.isStale}>
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

// Calls `use()` (a hook) and records what `read(result)` reads of it, at every render.
function Use({ use, read, log }) {
  const r = use()
  log.renders++
  log.last = r
  log.seen.push(read(r))
  return <div className="use">{String(read(r)?.tag ?? read(r)?.status ?? '')}</div>
}

// Lets the test set the props of a `Use` from outside.
function Settable({ initial, log, children }) {
  const [props, setProps] = useState(initial)
  log.set = setProps
  return children(props)
}

function SuspenseProbe({ url, log }) {
  const r = useSuspenseRequest(url, { retry: 0 })
  log.renders++
  log.seen.push(r.data.query.tag)
  return <div className="suspense">{r.data.query.tag}</div>
}

// Hide and show the page as a tab switch does.
function setVisibility(state) {
  Object.defineProperty(document, 'visibilityState', { value: state, configurable: true })
  document.dispatchEvent(new Event('visibilitychange'))
}
const restoreVisibility = () => delete document.visibilityState

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

  async settledGetIsNotAborted() {
    // An unmount after the data came aborts nothing (an abort makes an AbortError, stack and all).
    const tag = uid('settled')
    const client = createClient()
    const log = newLog()
    const abort = AbortController.prototype.abort
    let aborts = 0
    AbortController.prototype.abort = function (...a) {
      aborts++
      return abort.apply(this, a)
    }
    try {
      const m = mount(provide(client, <Probe url={echo(tag)} log={log} />))
      await withMount(m, () => waitFor(() => log.last?.status === 'success', 'data'))
      await sleep(50) // past the macrotask an abort would wait for
      return { tag, aborts, status: log.last.status }
    } finally {
      AbortController.prototype.abort = abort
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
    // A 500 is retried (twice by default): short waits keep the test short.
    const client = createClient({ retryDelayMs: 20 })
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
      // refetch never rejects: the error is in its result.
      const idle = await a.last.refetch()
      const refetchError = { isCalmfetchError: idle.error instanceof CalmfetchError, kind: idle.error?.kind, status: idle.status }
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
      const body = (await refetch()).data
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
          {/* (The write answers 150 ms later, so that its pending state renders in any browser, however loaded.) */}
          <Writer url={(b) => `/__bump?path=${encodeURIComponent(b.path)}&delay=150`} options={okOptions} log={ok} />
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

  // A poll tick that brings equal JSON keeps the data's identity: a component
  // that reads `data` does not render again; one that reads `isFetching` does.
  async pollEqualRendersNothing() {
    const client = createClient()
    const quiet = newLog()
    const busy = newLog()
    const url = '/const.json'
    return withMount(
      mount(
        provide(
          client,
          <>
            <Use use={() => useRequest(url, { pollMs: 150 })} read={(r) => r.data} log={quiet} />
            <Use use={() => useRequest(url, { pollMs: 150 })} read={(r) => [r.data, r.isFetching]} log={busy} />
          </>,
        ),
      ),
      async () => {
        await waitFor(() => quiet.last?.data !== undefined, 'the data')
        await sleep(100)
        const before = { quiet: quiet.renders, busy: busy.renders, ticks: client.stats().pollTicks }
        await sleep(900)
        return {
          quietRenders: quiet.renders - before.quiet,
          busyRenders: busy.renders - before.busy,
          ticks: client.stats().pollTicks - before.ticks,
          requests: client.stats().networkRequests,
          sameObject: quiet.seen.filter((d) => d !== undefined).every((d, _, all) => d === all[0]),
        }
      },
    )
  },

  // keepPreviousData: the old url's data stays, marked as a placeholder, until the new url's comes.
  async keepPrevious() {
    const client = createClient()
    const log = newLog()
    const first = uid('prev-a')
    const next = uid('prev-b')
    return withMount(
      mount(
        provide(
          client,
          <Settable initial={{ url: echo(first) }} log={log}>
            {({ url }) => <Use use={() => useRequest(url, { keepPreviousData: true })} read={(r) => ({ tag: r.data?.query.tag, isPlaceholder: r.isPlaceholder, status: r.status })} log={log} />}
          </Settable>,
        ),
      ),
      async () => {
        await waitFor(() => log.last?.data?.query.tag === first, 'the first data')
        log.set({ url: echo(next, '&delay=300') })
        await sleep(150)
        const during = { tag: log.last.data?.query.tag, isPlaceholder: log.last.isPlaceholder, status: log.last.status }
        await waitFor(() => log.last.data?.query.tag === next, 'the new data')
        const after = { tag: log.last.data.query.tag, isPlaceholder: log.last.isPlaceholder }
        // Without the option the data goes at once.
        return { first, next, during, after, seen: log.seen }
      },
    )
  },

  async noKeepPrevious() {
    const client = createClient()
    const log = newLog()
    const first = uid('noprev-a')
    return withMount(
      mount(
        provide(
          client,
          <Settable initial={{ url: echo(first) }} log={log}>
            {({ url }) => <Use use={() => useRequest(url)} read={(r) => r.data} log={log} />}
          </Settable>,
        ),
      ),
      async () => {
        await waitFor(() => log.last?.data !== undefined, 'the first data')
        log.set({ url: echo(uid('noprev-b'), '&delay=300') })
        await sleep(150)
        return { during: log.last.data === undefined ? 'undefined' : 'defined', isPlaceholder: log.last.isPlaceholder }
      },
    )
  },

  // select: the component renders again only when the selected value changes.
  async selectRendersOnChange() {
    const client = createClient()
    const byTag = newLog()
    const byN = newLog()
    const tag = uid('select')
    const url = echo(tag)
    return withMount(
      mount(
        provide(
          client,
          <>
            <Use use={() => useRequest(url, { select: (d) => ({ tag: d.query.tag }) })} read={(r) => r.data} log={byTag} />
            <Use use={() => useRequest(url, { select: (d) => d.n })} read={(r) => r.data} log={byN} />
          </>,
        ),
      ),
      async () => {
        await waitFor(() => byTag.last?.data !== undefined && byN.last?.data !== undefined, 'the data')
        await sleep(50)
        const before = { tag: byTag.renders, n: byN.renders }
        const firstSelected = byTag.last.data
        for (let i = 0; i < 3; i++) {
          await client.get(url, { fresh: true })
          await sleep(50)
        }
        return {
          tagRenders: byTag.renders - before.tag,
          nRenders: byN.renders - before.n,
          sameSelected: byTag.last.data === firstSelected,
          selected: byTag.last.data,
          lastN: byN.last.data,
          tag,
        }
      },
    )
  },

  // A select that throws: its error is the result's, and nothing loops.
  async selectThrows() {
    const client = createClient()
    const log = newLog()
    const boom = () => {
      throw new Error('bad select')
    }
    const url = echo(uid('select-throws'))
    return withMount(
      mount(provide(client, <Use use={() => useRequest(url, { select: boom })} read={(r) => r.status} log={log} />)),
      async () => {
        await waitFor(() => log.last?.status === 'error', "status 'error'")
        await sleep(200)
        return { message: log.last.error?.message, renders: log.renders }
      },
    )
  },

  // Suspense: the fallback, then the data; an error goes to the boundary.
  async suspense() {
    const client = createClient()
    const log = newLog()
    const tag = uid('suspense')
    const shown = []
    const m = mount(
      provide(
        client,
        <Boundary log={log}>
          <Suspense fallback={<div className="fallback">loading</div>}>
            <SuspenseProbe url={echo(tag, '&delay=200')} log={log} />
          </Suspense>
        </Boundary>,
      ),
    )
    return withMount(m, async () => {
      await sleep(50)
      shown.push(m.div.textContent)
      await waitFor(() => m.div.textContent === tag, 'the data after the fallback')
      shown.push(m.div.textContent)
      const failing = newLog()
      const f = mount(
        provide(
          client,
          <Boundary log={failing}>
            <Suspense fallback={<div>loading</div>}>
              <SuspenseProbe url={echo(uid('suspense-404'), '&status=404')} log={failing} />
            </Suspense>
          </Boundary>,
        ),
      )
      await withMount(f, () => waitFor(() => failing.caught !== undefined, 'the error boundary'))
      return { shown, tag, renders: log.renders, requests: await count(tag), caught: failing.caught, failedRenders: failing.renders }
    })
  },

  // pollMs can be switched off and on: the data stays meanwhile.
  async pollToggle() {
    const client = createClient()
    const log = newLog()
    const tag = uid('toggle')
    const url = echo(tag)
    return withMount(
      mount(
        provide(
          client,
          <Settable initial={{ pollMs: 150 }} log={log}>
            {({ pollMs }) => <Use use={() => useRequest(url, { pollMs })} read={(r) => r.data} log={log} />}
          </Settable>,
        ),
      ),
      async () => {
        await waitFor(() => log.last?.data?.n >= 3, 'three polls')
        log.set({ pollMs: undefined })
        await sleep(100)
        const offAt = await count(tag)
        const dataWhenOff = log.last.data?.n
        await sleep(600)
        const offAfter = await count(tag)
        const dataStill = log.last.data?.n
        log.set({ pollMs: 150 })
        await sleep(600)
        return { offAt, offAfter, dataWhenOff, dataStill, onAgain: await count(tag) }
      },
    )
  },

  // refetch resolves with the new result, errors included, never rejecting.
  async refetchResolves() {
    const client = createClient()
    const ok = newLog()
    const bad = newLog()
    const tag = uid('refetch-ok')
    const badUrl = echo(uid('refetch-bad'), '&status=404')
    return withMount(
      mount(
        provide(
          client,
          <>
            <Use use={() => useRequest(echo(tag))} read={(r) => r.data} log={ok} />
            <Use use={() => useRequest(badUrl)} read={(r) => r.status} log={bad} />
          </>,
        ),
      ),
      async () => {
        await waitFor(() => ok.last?.data !== undefined && bad.last?.status === 'error', 'both settle')
        const good = await ok.last.refetch()
        const failed = await bad.last.refetch()
        await sleep(50)
        return {
          good: { status: good.status, n: good.data?.n, error: good.error === undefined },
          failed: { status: failed.status, kind: failed.error?.kind, httpStatus: failed.error?.status },
          unhandled: [...unhandled],
        }
      },
    )
  },

  // Focus refetches stale data only, once for all the components of a key.
  async focusRefetch() {
    const client = createClient({ cache: { ttlMs: 400 } })
    const logs = [newLog(), newLog(), newLog()]
    const tag = uid('focus')
    const url = echo(tag)
    return withMount(
      mount(provide(client, logs.map((log, i) => <Use key={i} use={() => useRequest(url)} read={(r) => r.data} log={log} />))),
      async () => {
        try {
          await waitFor(() => logs.every((l) => l.last?.data !== undefined), 'the data')
          setVisibility('hidden')
          setVisibility('visible')
          await sleep(100)
          const whileFresh = await count(tag)
          await sleep(400)
          setVisibility('hidden')
          setVisibility('visible')
          await waitFor(() => logs[0].last.data.n === 2, 'the refetched data')
          await sleep(100)
          const afterStale = await count(tag)
          // refetchOnFocus: false stays put.
          return { whileFresh, afterStale, rendered: logs.map((l) => l.last.data.n) }
        } finally {
          restoreVisibility()
        }
      },
    )
  },

  // Back online: stale data is fetched again, once for the key.
  async reconnectRefetch() {
    const client = createClient({ cache: { ttlMs: 200 } })
    const logs = [newLog(), newLog()]
    const tag = uid('online')
    const url = echo(tag)
    return withMount(
      mount(provide(client, logs.map((log, i) => <Use key={i} use={() => useRequest(url, { refetchOnFocus: false })} read={(r) => r.data} log={log} />))),
      async () => {
        try {
          await waitFor(() => logs.every((l) => l.last?.data !== undefined), 'the data')
          Object.defineProperty(navigator, 'onLine', { value: true, configurable: true })
          window.dispatchEvent(new Event('online'))
          await sleep(100)
          const whileFresh = await count(tag)
          await sleep(250)
          window.dispatchEvent(new Event('online'))
          await waitFor(() => logs[1].last.data.n === 2, 'the refetched data')
          await sleep(100)
          return { whileFresh, afterStale: await count(tag) }
        } finally {
          delete navigator.onLine
        }
      },
    )
  },

  async focusRefetchOff() {
    const client = createClient({ cache: { ttlMs: 100 } })
    const log = newLog()
    const tag = uid('focus-off')
    return withMount(
      mount(provide(client, <Use use={() => useRequest(echo(tag), { refetchOnFocus: false })} read={(r) => r.data} log={log} />)),
      async () => {
        try {
          await waitFor(() => log.last?.data !== undefined, 'the data')
          await sleep(200)
          setVisibility('hidden')
          setVisibility('visible')
          await sleep(200)
          return { requests: await count(tag) }
        } finally {
          restoreVisibility()
        }
      },
    )
  },

  unhandledRejections() {
    return [...unhandled]
  },
}

window.__tests = tests
window.__ready = true
