// Defect 2 of issue 14: an adapter whose `connect` calls `open()` at once
// (an already-connected socket). The scenario runs in a child process: today
// it panics the wasm module, which stops every client of the process and
// leaves it unable to exit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reply, runScript, serve } from './helpers.mjs'

// Prints `RESULT {...}`: what the adapter saw and every error calmfetch gave.
const scenario = `
const { createClient, dataMessage, fakeAdapter, snapshots } = await import(process.env.CALMFETCH_API_HELPERS)
const sock = fakeAdapter({ openInConnect: true })
const errors = []
const caught = (e) => errors.push({ kind: e?.kind, message: String(e?.message ?? e) })
const client = createClient({ baseUrl: process.env.SERVER, socket: { adapter: sock.adapter, onError: caught } })
const seen = snapshots()
let stop = () => {}
try {
  stop = client.subscribe('/live', seen.listener)
  sock.handlers?.message(dataMessage('/live', { score: 3 }))
} catch (e) { caught(e) }
const pushed = await seen.next((s) => s.data !== undefined, 500, 'the pushed data').then((s) => s.data, caught)
const got = await client.get('/other').catch(caught)
console.log('RESULT ' + JSON.stringify({ errors, connects: sock.connections.length, sent: sock.sent, pushed, got }))
try { stop() } catch (e) { caught(e) }
`

test('a socket adapter that opens inside connect works', { timeout: 10_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, { over: 'http' }))
  const run = await runScript(t, scenario, { ms: 5_000, env: { SERVER: srv.url } })
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `the scenario reported nothing (killed: ${run.killed}); stderr: ${run.stderr.slice(0, 2000)}`)
  const facts = JSON.parse(line.slice('RESULT '.length))
  const internal = facts.errors.filter((e) => e.kind === 'internal')
  assert.deepEqual(internal, [], `calmfetch stopped: ${internal[0]?.message}`)
  assert.equal(facts.connects, 1)
  assert.deepEqual(facts.sent.map((m) => JSON.parse(m)), [{ type: 'subscribe', key: '/live' }], 'the subscribe message was not sent')
  assert.deepEqual(facts.pushed, { score: 3 }, 'the pushed data did not reach the subscriber')
  assert.deepEqual(facts.got, { over: 'http' })
  assert.deepEqual(facts.errors, [])
  assert.equal(srv.count('/other'), 1)
})
