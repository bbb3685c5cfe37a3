// The wasm module loads asynchronously and calls made before it is ready are
// queued. When it cannot load at all (a CSP without 'wasm-unsafe-eval', say),
// every queued call settles: promises reject with kind 'internal' and nothing
// hangs or throws out of the queue. Runs in a child process: a failed load
// stops every client of the process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runScript } from './helpers.mjs'

const scenario = `
// Refuse calmfetch's module only (Node's own fetch compiles wasm too).
for (const name of ['instantiate', 'instantiateStreaming']) {
  const real = WebAssembly[name]
  WebAssembly[name] = (bytes, imports) =>
    imports?.env?.cf_panic ? Promise.reject(new Error('wasm is not allowed here')) : real(bytes, imports)
}
const { createClient } = await import(process.env.CALMFETCH_ENTRY)
const c = createClient({ baseUrl: 'http://127.0.0.1:9' })
const kinds = (ps) => Promise.all(ps.map((p) => p.then(() => 'resolved', (e) => e.kind)))
const pending = [c.get('/a'), c.refresh('/b'), c.get('/c', { headers: { 'X-A': '1' } })]
c.invalidate('/a')
const stop = c.subscribe('/a', () => {})
const poll = c.poll('/a', { intervalMs: 1000 })
const settled = await Promise.race([kinds(pending), new Promise((r) => setTimeout(() => r('hung'), 2000))])
const later = await kinds([c.get('/d')]).catch((e) => e.kind)
stop(); poll.stop()
console.log('RESULT ' + JSON.stringify({ settled, later }))
`

test('when the module cannot load, every queued call settles with an internal error', { timeout: 10_000 }, async (t) => {
  const run = await runScript(t, scenario, { ms: 6_000 })
  const line = run.stdout.split('\\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `no result (killed: ${run.killed}); stderr: ${run.stderr.slice(0, 1500)}`)
  const { settled, later } = JSON.parse(line.slice(7))
  assert.deepEqual(settled, ['internal', 'internal', 'internal'])
  assert.deepEqual(later, ['internal'])
  assert.equal(run.code, 0, run.stderr.slice(0, 1500))
})
