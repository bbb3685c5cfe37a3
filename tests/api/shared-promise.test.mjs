// Identical calls without a signal share one promise (the core gives them one
// waiter); a call with a signal keeps its own, and aborting it leaves the
// others alone.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { createClient } from '../../pkg/index.js'

test('1,000 identical calls share one promise and one request; a call with a signal keeps its own', { timeout: 5_000 }, async (t) => {
  let hits = 0
  const srv = createServer((req, res) => {
    hits++
    setTimeout(() => {
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify({ url: req.url }))
    }, 50)
  })
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  t.after(() => srv.close())
  const client = createClient({ baseUrl: `http://127.0.0.1:${srv.address().port}` })
  await client.get('/ready') // the module is loaded
  const ctl = new AbortController()
  const own = client.get('/x', { signal: ctl.signal })
  const calls = Array.from({ length: 1000 }, () => client.get('/x'))
  assert.equal(new Set(calls).size, 1, 'one promise for the calls without a signal')
  assert.notEqual(own, calls[0])
  ctl.abort()
  await assert.rejects(own, { kind: 'abort' })
  const bodies = await Promise.all(calls)
  assert.ok(bodies.every((b) => b.url === '/x'))
  assert.equal(hits, 2, 'one request for /ready, one for /x')
  const st = client.stats()
  assert.equal(st.requested, 1002)
  assert.equal(st.dedupHits, 1000)
})
