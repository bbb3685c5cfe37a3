// Defect 16 of issue 14 (query sorting): a URL with a huge number of query
// parameters is normalised in n·log n time. The get runs in a child process,
// killed at the bound: the normalisation is one synchronous call into the
// wasm module, which no timer of this process could interrupt.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reply, runScript, serve } from './helpers.mjs'

// 1.2 million parameters, named in reverse order (the insertion sort's worst
// case): about 60 s on the quadratic sort of today (measured: 160,000 take
// 1.0 s, 320,000 take 4.3 s), well under a second sorted in n·log n. The URL
// is about 6 MB.
const PARAMS = 1_200_000
const BOUND_MS = 20_000

test('a URL with 1.2 million query parameters is normalised in near-linear time', { timeout: BOUND_MS + 10_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, {}), { maxHeaderSize: 64 * 2 ** 20 })
  const run = await runScript(t, `
const { createClient } = await import(process.env.CALMFETCH_ENTRY)
const n = ${PARAMS}
const names = Array.from({ length: n }, (_, i) => (n - 1 - i).toString(36).padStart(4, '0'))
const client = createClient({ baseUrl: process.env.SERVER })
const started = performance.now()
const body = await client.get('/q?' + names.join('&'))
console.log('SETTLED ' + JSON.stringify(body) + ' in ' + Math.round(performance.now() - started) + ' ms')
`, { ms: BOUND_MS, env: { SERVER: srv.url } })
  assert.ok(!run.killed, `the get of a URL with ${PARAMS} parameters had not settled after ${BOUND_MS} ms`)
  assert.match(run.stdout, /^SETTLED \{\} in \d+ ms/m, run.stderr.slice(0, 2000))
  assert.equal(srv.count('/q'), 1)
  const sorted = new URL(srv.log[0].url, srv.url).searchParams
  assert.equal([...sorted.keys()].length, PARAMS)
  assert.equal([...sorted.keys()][0], '0000', 'the parameters were not sent sorted by name')
})
