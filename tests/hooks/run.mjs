// The React hooks in headless Chromium: builds tests/hooks/main.jsx with
// esbuild against the built package, serves it from the reference server and
// checks what the components rendered against the server's own counters.
import { build } from 'esbuild'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from '../../www/server/server.mjs'
import { assert, countTag, launchBrowser, runner, sleep } from '../lib/browser.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const pkg = process.env.CALMFETCH_PKG ?? join(root, 'pkg')
// REACT=18 runs the same tests on React 18 (installed in tests/hooks/react18).
const react18 = process.env.REACT === '18'
const site = join(root, 'tests', '.out', react18 ? 'hooks-react18' : 'hooks')
const reactAlias = {}
if (react18) {
  const dir = join(here, 'react18')
  const stamp = join(dir, 'node_modules', '.lock.sha')
  const lock = readFileSync(join(dir, 'package-lock.json'), 'utf8')
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lock) {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'inherit' })
    writeFileSync(stamp, lock)
  }
  reactAlias.react = join(dir, 'node_modules', 'react')
  reactAlias['react-dom'] = join(dir, 'node_modules', 'react-dom')
}
rmSync(site, { recursive: true, force: true })
mkdirSync(site, { recursive: true })
cpSync(join(here, 'index.html'), join(site, 'index.html'))
// A body that never changes, for the poll tick that must render nothing.
writeFileSync(join(site, 'const.json'), JSON.stringify({ list: [{ id: 1 }, { id: 2 }], meta: { v: 1 } }))
await build({
  entryPoints: [join(here, 'main.jsx')],
  outfile: join(site, 'main.js'),
  bundle: true,
  format: 'esm',
  jsx: 'automatic',
  // Development React: its warnings (e.g. about hooks) reach the console.
  define: { 'process.env.NODE_ENV': '"development"' },
  alias: { calmfetch: join(pkg, 'index.js'), 'calmfetch/react': join(pkg, 'react.js'), ...reactAlias },
  nodePaths: [join(root, 'node_modules')],
  logLevel: 'warning',
})
writeFileSync(join(site, '.built'), new Date().toISOString())

const server = await startServer({ port: 0, staticDir: site })
const browser = await launchBrowser()
const page = await browser.newPage()
const consoleErrors = []
// React 18's development build also reports the error the no-provider test's
// boundary catches, as a page error and on the console: that one is expected.
const expectedError = (text) =>
  text.includes('calmfetch/react: no client') ||
  text.includes('hooks-suspense-404') ||
  text.startsWith('The above error occurred in the <NoProvider> component') ||
  text.startsWith('The above error occurred in the <SuspenseProbe> component')
page.on('pageerror', (e) => expectedError(String(e)) || consoleErrors.push(`during ${current}: ${e.stack ?? e}`))
page.on('console', (m) => {
  const expected = m.text().startsWith('Failed to load resource') || expectedError(m.text())
  if (m.type() === 'error' && !expected) consoleErrors.push(`during ${current}: ${m.text()}`)
})
await page.goto(server.url + '/')
console.log(`React ${react18 ? 18 : 19}`)
await page.waitForFunction(() => window.__ready === true, null, { timeout: 10000 }).catch((e) => {
  console.log(`the test page did not load: ${consoleErrors.join('\n') || e.message}`)
  process.exit(1)
})
let current = 'loading' // the test running when a console error shows up
const run = (name, arg) => {
  current = name
  return page.evaluate(([n, a]) => window.__tests[n](a), [name, arg])
}
const t = runner()

try {
  await t.check('StrictMode mounts once on the network', async () => {
    const r = await run('strictMode')
    assert(r.effects === 2, `StrictMode ran effects ${r.effects} times (expected its double mount)`)
    assert(r.serverCount === 1, `server saw ${r.serverCount} requests`)
    assert(r.stats.networkRequests === 1, `client sent ${r.stats.networkRequests}`)
    assert(r.text.startsWith('success:'), `rendered ${r.text}`)
  })

  await t.check('two components with one url share one request', async () => {
    const r = await run('twoComponents')
    assert(r.texts.length === 2 && r.texts[0] === r.texts[1] && r.texts[0].startsWith('success:'), `rendered ${r.texts}`)
    assert(r.stats.networkRequests === 1, `network requests ${r.stats.networkRequests}`)
    assert((await countTag(server, r.tag)) === 1, 'server count')
  })

  await t.check('unmount removes the listeners', async () => {
    const r = await run('unmountRemovesListeners')
    assert(r.liveWhileMounted === 1, `live subscriptions while mounted: ${r.liveWhileMounted}`)
    assert(r.liveAfter === 0, `live subscriptions after unmount: ${r.liveAfter}`)
    assert(r.listenerCallsAfter === 0, `listener called ${r.listenerCallsAfter} times after unmount`)
    assert(r.rendersAfter === 0, `rendered ${r.rendersAfter} times after unmount`)
  })

  await t.check('an unmount after the data came aborts nothing', async () => {
    const r = await run('settledGetIsNotAborted')
    assert(r.status === 'success', `status ${r.status}`)
    assert(r.aborts === 0, `abort() called ${r.aborts} times`)
  })

  await t.check('a url change aborts the old request when nobody else waits for it', async () => {
    const r = await run('urlChangeAborts')
    assert(r.cancelled === 1, `cancelled requests: ${r.cancelled}`)
    assert(!r.seen.includes(r.slow), `the old url's data rendered: ${r.seen}`)
    assert(r.seen.includes(r.next), `the new url's data did not render: ${r.seen}`)
  })

  await t.check('an HTTP error reaches `error` as a CalmfetchError, with no unhandled rejection', async () => {
    const r = await run('httpError')
    assert(r.status === 'error', `status ${r.status}`)
    assert(r.isCalmfetchError && r.kind === 'http' && r.httpStatus === 500, JSON.stringify(r))
    assert(r.unhandled.length === 0, `unhandled: ${r.unhandled}`)
  })

  await t.check('useRequest shows data from a backend that answers everything with no-store', async () => {
    const r = await run('noStore')
    assert(r.settled && r.status === 'success', `status stayed ${r.status}`)
    assert(r.seen.includes(r.tag), `the data did not render: ${r.seen}`)
    assert(r.requests === 1, `one request, not a loop: ${r.requests}`)
  })

  await t.check('a null url and enabled: false wait, then fetch once given a url', async () => {
    const r = await run('nullUrlWaits')
    assert(r.waiting.statuses.join() === 'idle,idle', `statuses ${r.waiting.statuses}`)
    assert(r.waiting.counts.join() === '0,0' && r.waiting.networkRequests === 0, JSON.stringify(r.waiting))
    assert(r.refetchError?.isCalmfetchError && r.refetchError.kind === 'invalid' && r.refetchError.status === 'idle', `refetch: ${JSON.stringify(r.refetchError)}`)
    assert(r.seen[0] === r.tagNull && r.seen[1] === r.tagOff, `seen ${r.seen}`)
    assert(r.networkRequests === 2, `network requests ${r.networkRequests}`)
  })

  await t.check('refetch skips the cache and renders the new data', async () => {
    const r = await run('refetchWhenFresh')
    assert(r.staleBefore === false, 'fresh before refetch')
    assert(r.refetchedN !== r.firstN && r.renderedN === r.refetchedN, JSON.stringify(r))
    assert((await countTag(server, r.tag)) === 2, 'server saw two requests')
  })

  await t.check('inline options literals do not resubscribe or refetch', async () => {
    const r = await run('inlineOptionsDoNotResubscribe')
    assert(r.subscribes === r.subscribesAfterData, `subscribed ${r.subscribes - r.subscribesAfterData} more times`)
    assert(r.stats.networkRequests === 1, `network requests ${r.stats.networkRequests}`)
    assert((await countTag(server, r.tag)) === 1, 'server count')
  })

  await t.check('useClient without a provider throws a clear error', async () => {
    const r = await run('noProvider')
    assert(/CalmfetchProvider/.test(r.caught), `caught: ${r.caught}`)
  })

  await t.check('usePoll: two components in StrictMode share one schedule, which stops at unmount', async () => {
    const r = await run('pollShared')
    // About 1 + 1000/300 ticks in the second after the first data for one
    // shared schedule; one per component (or a doubled StrictMode mount) makes twice that.
    assert(r.whileMounted >= 3 && r.whileMounted <= 6, `server saw ${r.whileMounted} requests in ~1.1 s`)
    assert(r.distinctA >= 3, `first poller rendered ${r.distinctA} distinct bodies`)
    assert(r.sameData, 'both pollers render the same data')
    assert(r.afterUnmount === r.atUnmount, `requests went on after unmount: ${r.atUnmount} -> ${r.afterUnmount}`)
  })

  await t.check('useLive: two components get pushed data over one socket subscription, with no HTTP', async () => {
    const r = await run('liveSocket')
    assert(r.socketState === 'open', `socket ${r.socketState}`)
    assert(r.socketSubscribes === 1, `socket subscriptions sent: ${r.socketSubscribes}`)
    assert(r.networkRequests === 0, `HTTP requests: ${r.networkRequests}`)
    assert(r.changed, 'the bumped body rendered')
  })

  await t.check('useLive: keys with their own credentials are fetched over HTTP, never filled from the socket', async () => {
    const r = await run('liveOwnCredentials')
    assert(r.networkRequests === 2 && (await countTag(server, r.tag)) === 2, JSON.stringify(r))
    assert(r.socketSubscribes === 0 && r.socketState === 'idle', JSON.stringify(r))
  })

  await t.check('usePrefetch: a hover prefetches once and the click renders the data at once', async () => {
    const { tag } = await run('prefetchLink', 'mount')
    const box = await page.locator('#hover-link').boundingBox()
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
    await sleep(400) // intent delay (65 ms) + the 100 ms answer
    assert((await countTag(server, tag)) === 1, 'one prefetch request on hover')
    await page.mouse.down()
    await page.mouse.up()
    const r = await run('prefetchLink', 'result')
    assert(r.firstStatus === 'success', `the page rendered '${r.firstStatus}' first`)
    assert(r.serverCount === 1 && r.networkRequests === 1 && r.prefetched === 1, JSON.stringify(r))
    await page.mouse.move(0, 0)
  })

  await t.check('usePrefetch(null) gives handlers that do nothing', async () => {
    const r = await run('prefetchNullUrl')
    assert(r.networkRequests === 0, `network requests ${r.networkRequests}`)
  })

  await t.check('useMutation: idle, pending, success; the invalidated useRequest refetches; mutate never rejects; nothing after unmount', async () => {
    const r = await run('mutation')
    assert(r.first.status === 'idle' && r.first.n === 1, JSON.stringify(r.first))
    assert(r.afterOk.statuses.join() === 'idle,pending,success', `statuses ${r.afterOk.statuses}`)
    assert(r.afterOk.data?.path === '/hooks/counter' && r.afterOk.data.version >= 1, `data ${JSON.stringify(r.afterOk.data)}`)
    assert(r.afterOk.calls === 1, `onSuccess calls ${r.afterOk.calls}`)
    assert(r.afterOk.count === 2, `the probe's url was fetched ${r.afterOk.count} times (once, then once after the write)`)
    const b = r.afterBad
    assert(b.returned === 'undefined' && b.isCalmfetchError && b.kind === 'http' && b.status === 405 && b.data === 'undefined', JSON.stringify(b))
    assert(JSON.stringify(b.calls) === JSON.stringify([['http', 405, { x: 1 }]]), `onError calls ${JSON.stringify(b.calls)}`)
    assert(r.rejected === 'http', `mutateAsync rejected with ${r.rejected}`)
    assert(r.identities.ok === 3 && r.identities.bad === 3, `mutate/mutateAsync/reset identities: ${JSON.stringify(r.identities)}`)
    assert(r.late?.path === '/hooks/counter', 'a write in flight at unmount still settles')
    assert(r.rendersAfterUnmount === 0, `rendered ${r.rendersAfterUnmount} times after unmount`)
    assert(r.unhandled.length === 0, `unhandled: ${r.unhandled}`)
  })

  await t.check('useMutation: an optimistic update renders at once and rolls back when the write fails', async () => {
    const r = await run('mutationOptimistic')
    const [before, during, after] = r.texts
    assert(/#1$/.test(before) && /#999$/.test(during) && after === before, `rendered ${r.texts.join(' -> ')}`)
    assert(r.error === 405, `error ${r.error}`)
    assert(r.requests === 1, `the failed write refetched the entry: ${r.requests}`)
  })

  await t.check('server-side rendering in Node: the hooks render without window and fetch nothing', async () => {
    // Bundled for Node with the same React as the browser tests.
    const ssr = join(site, 'ssr.mjs')
    await build({
      stdin: {
        contents: `export { createElement } from 'react'; export { renderToString } from 'react-dom/server';
          export { createClient } from 'calmfetch'; export * from 'calmfetch/react'`,
        resolveDir: here,
      },
      outfile: ssr,
      bundle: true,
      platform: 'node',
      format: 'esm',
      alias: { calmfetch: join(pkg, 'index.js'), 'calmfetch/react': join(pkg, 'react.js'), ...reactAlias },
      nodePaths: [join(root, 'node_modules')],
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'warning',
    })
    const { createElement, renderToString, createClient, CalmfetchProvider, useRequest, usePoll, useLive, usePrefetch } =
      await import(ssr)
    assert(typeof globalThis.window === 'undefined', 'Node has no window')
    function Page() {
      const r = useRequest('/api/games/1')
      const p = usePoll('/api/activity', 5000)
      const l = useLive('/api/games/2')
      return createElement('a', usePrefetch('/api/games/3'), `${r.status}/${p.status}/${l.status}`)
    }
    const client = createClient({ baseUrl: server.url })
    const html = renderToString(createElement(CalmfetchProvider, { client }, createElement(Page)))
    assert(html === '<a>pending/pending/pending</a>', `rendered ${html}`)
    assert(client.stats().networkRequests === 0, 'the server render sent requests')
    // With a state (from a request-scoped client's dehydrate), the hooks render its data,
    // also in a client with no baseUrl (relative urls found as spelled).
    const state = { calmfetch: 1, entries: [{ url: '/api/games/1', data: { id: 1 }, updatedAt: Date.now(), ttlMs: 60_000 }] }
    function Game() {
      const r = useRequest('/api/games/1')
      return createElement('b', null, `${r.status}:${r.data?.id}`)
    }
    for (const c of [createClient({ baseUrl: server.url }), createClient()]) {
      const out = renderToString(createElement(CalmfetchProvider, { client: c, state }, createElement(Game)))
      assert(out === '<b>success:1</b>', `rendered ${out}`)
      assert(c.stats().networkRequests === 0, 'the server render sent requests')
    }
  })

  await t.check('a server-rendered page with dehydrated state hydrates without a mismatch and without a request', async () => {
    const r = await run('hydrateFromServer')
    r.html = r.html.replaceAll('<!-- -->', '') // React's text separators
    const tag = r.html.match(/hooks-hydrate-[\w-]+/)?.[0]
    assert(r.prefetched === true, 'the prefetch resolved true')
    assert(tag && r.html.includes(`success:${tag}#1`), `the server HTML: ${r.html}`)
    assert(r.hydrated.statuses.every((s) => s === 'success'), `statuses while hydrating: ${r.hydrated.statuses}`)
    assert(r.hydrated.text === `success:${tag}#1` && r.hydrated.networkRequests === 0, JSON.stringify(r.hydrated))
    assert(r.recoverable.length === 0, `hydration errors: ${r.recoverable.join('\n')}`)
    // The next page's newer state replaced the data on show (after the render: no warning).
    assert(r.text === `success:${tag}#2` && r.networkRequests === 0 && r.serverCount === 2, JSON.stringify(r))
  })

  await t.check('a poll tick with equal data renders nothing (but a component reading isFetching renders)', async () => {
    const r = await run('pollEqualRendersNothing')
    assert(r.ticks >= 3, `poll ticks: ${r.ticks}`)
    assert(r.quietRenders === 0, `the component reading data rendered ${r.quietRenders} times`)
    assert(r.busyRenders >= 2 * r.ticks - 2, `the component reading isFetching rendered ${r.busyRenders} times for ${r.ticks} ticks`)
    assert(r.sameObject, 'the data kept its identity')
  })

  await t.check('keepPreviousData keeps the old data as a placeholder until the new data comes', async () => {
    const r = await run('keepPrevious')
    assert(r.during.tag === r.first && r.during.isPlaceholder === true && r.during.status === 'success', `while loading: ${JSON.stringify(r.during)}`)
    assert(r.after.tag === r.next && r.after.isPlaceholder === false, `after: ${JSON.stringify(r.after)}`)
    const n = await run('noKeepPrevious')
    assert(n.during === 'undefined' && n.isPlaceholder === false, `without the option: ${JSON.stringify(n)}`)
  })

  await t.check('select: a component renders again only when its selected value changes', async () => {
    const r = await run('selectRendersOnChange')
    assert(r.tagRenders === 0, `the tag selector rendered ${r.tagRenders} times for 3 equal refetches`)
    assert(r.sameSelected && r.selected.tag === r.tag, `selected ${JSON.stringify(r.selected)}`)
    assert(r.nRenders >= 3, `the n selector rendered ${r.nRenders} times for 3 changes`)
    assert(r.lastN === 4, `last n ${r.lastN}`)
  })

  await t.check('a select that throws puts its error in the result, without a render loop', async () => {
    const r = await run('selectThrows')
    assert(r.message === 'bad select', `error: ${r.message}`)
    assert(r.renders <= 6, `rendered ${r.renders} times`)
  })

  await t.check('useSuspenseRequest: the fallback, then the data; an error reaches the error boundary', async () => {
    const r = await run('suspense')
    assert(r.shown[0] === 'loading' && r.shown[1] === r.tag, `shown ${JSON.stringify(r.shown)}`)
    assert(r.requests === 1, `requests: ${r.requests} (a suspense loop refetches)`)
    assert(/HTTP 404/.test(r.caught ?? ''), `caught: ${r.caught}`)
    assert(r.failedRenders === 0, `the failing component rendered ${r.failedRenders} times`)
  })

  await t.check('useRequest pollMs: switched off the data stays and polls stop; switched on they resume', async () => {
    const r = await run('pollToggle')
    assert(r.offAfter === r.offAt, `requests while off: ${r.offAt} -> ${r.offAfter}`)
    assert(r.dataStill === r.dataWhenOff && r.dataStill >= 3, `data while off: ${r.dataWhenOff} -> ${r.dataStill}`)
    assert(r.onAgain >= r.offAfter + 2, `requests once on again: ${r.offAfter} -> ${r.onAgain}`)
  })

  await t.check('refetch resolves with the new result, errors in it, never an unhandled rejection', async () => {
    const r = await run('refetchResolves')
    assert(r.good.status === 'success' && r.good.n === 2 && r.good.error, JSON.stringify(r.good))
    assert(r.failed.status === 'error' && r.failed.kind === 'http' && r.failed.httpStatus === 404, JSON.stringify(r.failed))
    assert(r.unhandled.length === 0, `unhandled: ${r.unhandled}`)
  })

  await t.check('focus refetches stale data only, once for every component of the key', async () => {
    const r = await run('focusRefetch')
    assert(r.whileFresh === 1, `a focus with fresh data sent ${r.whileFresh - 1} requests`)
    assert(r.afterStale === 2, `a focus with stale data sent ${r.afterStale - 1} requests (3 components)`)
    assert(r.rendered.every((n) => n === 2), `rendered ${r.rendered}`)
    const off = await run('focusRefetchOff')
    assert(off.requests === 1, `refetchOnFocus: false sent ${off.requests - 1} requests`)
  })

  await t.check('back online, stale data is fetched again once for the key; fresh data is not', async () => {
    const r = await run('reconnectRefetch')
    assert(r.whileFresh === 1, `online with fresh data sent ${r.whileFresh - 1} requests`)
    assert(r.afterStale === 2, `online with stale data sent ${r.afterStale - 1} requests (2 components)`)
  })

  await t.check('no unhandled rejections and no console errors', async () => {
    const unhandled = await run('unhandledRejections')
    assert(unhandled.length === 0, `unhandled: ${unhandled}`)
    assert(consoleErrors.length === 0, `console: ${consoleErrors.join('\n')}`)
  })
} finally {
  await browser.close()
  await server.close()
}
process.exit(t.report() ? 0 : 1)
