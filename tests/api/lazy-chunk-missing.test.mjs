// The socket driver (socket.js), the reader of streamed batch answers
// (stream.js) and polling (polling.js) are lazy chunks that only a client
// using them loads. When one cannot load (a deploy that lost the chunk, a
// network error), nothing hangs: a client with a socket still becomes ready
// and serves everything over HTTP, a streamed batch answer fails its batch
// like a network error, and a poll tells its onError.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { reply, runScript, serve } from './helpers.mjs'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'pkg')

const scenario = `
const { createClient } = await import(process.env.ENTRY_WITHOUT_CHUNKS)
let connects = 0
const adapter = { connect: () => { connects++ }, send: () => {} }
const client = createClient({ baseUrl: process.env.SERVER, socket: { adapter } })
const seen = []
const stop = client.subscribe('/live', (s) => seen.push(s.data))
const got = await Promise.race([client.get('/live'), new Promise((r) => setTimeout(() => r('hung'), 3000))])
await new Promise((r) => setTimeout(r, 50))
const stats = client.stats()
stop()
console.log('RESULT ' + JSON.stringify({ got, connects, seen: seen.filter((d) => d !== undefined), requests: stats.networkRequests }))
`

/** A copy of the package with only its main files (no lazy chunk); its entry's URL. */
function withoutChunks(t) {
  const dir = mkdtempSync(join(tmpdir(), 'calmfetch-nochunk-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const f of ['index.js', 'core_wasm.js', 'package.json']) copyFileSync(join(pkg, f), join(dir, f))
  return pathToFileURL(join(dir, 'index.js')).href
}

test('without its socket chunk a client with a socket serves over HTTP', { timeout: 10_000 }, async (t) => {
  const entry = withoutChunks(t)
  const srv = await serve(t, (req, res) => reply(res, 200, { over: 'http' }))
  const run = await runScript(t, scenario, { ms: 6_000, env: { SERVER: srv.url, ENTRY_WITHOUT_CHUNKS: entry } })
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `no result (killed: ${run.killed}); stderr: ${run.stderr.slice(0, 1500)}`)
  const facts = JSON.parse(line.slice(7))
  assert.deepEqual(facts.got, { over: 'http' })
  assert.equal(facts.connects, 0, 'the adapter was connected without the driver')
  assert.deepEqual(facts.seen.at(-1), { over: 'http' }, 'the subscriber got the data')
  assert.equal(facts.requests, 1, 'one request for the subscriber and the get')
  assert.equal(run.code, 0, run.stderr.slice(0, 1500))
})

const streamed = `
const { createClient } = await import(process.env.ENTRY_WITHOUT_CHUNKS)
const client = createClient({ baseUrl: process.env.SERVER, batch: { stream: true, crossOrigin: true }, retry: 0 })
const settle = (p) => p.then((data) => ({ data }), (e) => ({ kind: e.kind, message: e.message }))
const out = await Promise.race([Promise.all([settle(client.get('/a')), settle(client.get('/b'))]), new Promise((r) => setTimeout(() => r('hung'), 3000))])
console.log('RESULT ' + JSON.stringify({ out, stats: client.stats() }))
`

test('without its stream chunk a streamed batch answer fails its calls as a network error naming the chunk, and nothing hangs', { timeout: 10_000 }, async (t) => {
  const entry = withoutChunks(t)
  const srv = await serve(t, (req, res, _srv, entry) => {
    if (req.url.startsWith('/batch')) {
      const { requests } = JSON.parse(entry.body)
      const text = requests.map((r) => JSON.stringify({ id: r.id, status: 200, body: { url: r.url } })).join('\n') + '\n'
      return reply(res, 200, text, { 'Content-Type': 'application/x-ndjson' })
    }
    reply(res, 200, { plain: req.url })
  })
  const run = await runScript(t, streamed, { ms: 6_000, env: { SERVER: srv.url, ENTRY_WITHOUT_CHUNKS: entry } })
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `no result (killed: ${run.killed}); stderr: ${run.stderr.slice(0, 1500)}`)
  const { out, stats } = JSON.parse(line.slice(7))
  assert.notEqual(out, 'hung', 'a call never settled')
  for (const r of out) {
    assert.equal(r.kind, 'network', `each call fails like a network error: ${JSON.stringify(r)}`)
    assert.match(r.message, /stream\.js/, 'the message says what could not load')
  }
  assert.equal(stats.batchesSent, 1)
  assert.equal(stats.inFlight, 0, 'nothing is left in flight')
  assert.equal(run.code, 0, run.stderr.slice(0, 1500))
})

const polled = `
const { createClient } = await import(process.env.ENTRY_WITHOUT_CHUNKS)
const client = createClient({ baseUrl: process.env.SERVER })
const errors = []
const data = []
const handle = client.poll('/a', { intervalMs: 50, onData: (d) => data.push(d), onError: (e) => errors.push({ kind: e.kind, message: e.message }) })
await new Promise((r) => setTimeout(r, 300))
handle.stop()
const got = await client.get('/b')
console.log('RESULT ' + JSON.stringify({ errors, data, got, requests: client.stats().networkRequests }))
`

test('without its polling chunk a poll tells onError once, and the client still works', { timeout: 10_000 }, async (t) => {
  const entry = withoutChunks(t)
  const srv = await serve(t, (req, res) => reply(res, 200, { url: req.url }))
  const run = await runScript(t, polled, { ms: 6_000, env: { SERVER: srv.url, ENTRY_WITHOUT_CHUNKS: entry } })
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `no result (killed: ${run.killed}); stderr: ${run.stderr.slice(0, 1500)}`)
  const { errors, data, got, requests } = JSON.parse(line.slice(7))
  assert.equal(errors.length, 1, `onError once: ${JSON.stringify(errors)}`)
  assert.equal(errors[0].kind, 'network')
  assert.match(errors[0].message, /polling module could not be loaded.*polling\.js/)
  assert.deepEqual(data, [])
  assert.deepEqual(got, { url: '/b' })
  assert.equal(requests, 1, 'only the get reached the server')
  assert.equal(run.code, 0, run.stderr.slice(0, 1500))
})
