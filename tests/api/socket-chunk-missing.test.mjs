// The socket driver is a lazy chunk (socket.js) that only a client with
// `socket` loads. When it cannot load (a deploy that lost the chunk, a
// network error), the client still becomes ready and serves everything over
// HTTP: no call hangs, and the adapter is never connected.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { reply, runScript, serve } from './helpers.mjs'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'pkg')

const scenario = `
const { createClient } = await import(process.env.ENTRY_WITHOUT_SOCKET)
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

test('without its socket chunk a client with a socket serves over HTTP', { timeout: 10_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'calmfetch-nosock-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const f of ['index.js', 'core_wasm.js', 'package.json']) copyFileSync(join(pkg, f), join(dir, f))
  const srv = await serve(t, (req, res) => reply(res, 200, { over: 'http' }))
  const run = await runScript(t, scenario, { ms: 6_000, env: { SERVER: srv.url, ENTRY_WITHOUT_SOCKET: pathToFileURL(join(dir, 'index.js')).href } })
  const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `no result (killed: ${run.killed}); stderr: ${run.stderr.slice(0, 1500)}`)
  const facts = JSON.parse(line.slice(7))
  assert.deepEqual(facts.got, { over: 'http' })
  assert.equal(facts.connects, 0, 'the adapter was connected without the driver')
  assert.deepEqual(facts.seen.at(-1), { over: 'http' }, 'the subscriber got the data')
  assert.equal(facts.requests, 1, 'one request for the subscriber and the get')
  assert.equal(run.code, 0, run.stderr.slice(0, 1500))
})
