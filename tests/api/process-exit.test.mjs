// Defect 13 of issue 14: a Node process that polled exits by itself once its
// pollers have stopped (server rendering, scripts, tests).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reply, runScript, serve } from './helpers.mjs'

const EXIT_WITHIN_MS = 5_000

/** Run `body` (with `client` made on the server) in a child; it must exit by itself. */
async function exitsByItself(t, body) {
  const srv = await serve(t, (req, res) => reply(res, 200, { n: srv.count('/activity') }))
  const source = `
const { createClient } = await import(process.env.CALMFETCH_ENTRY)
const client = createClient({ baseUrl: process.env.SERVER })
${body}
console.log('DONE')
`
  const run = await runScript(t, source, { ms: EXIT_WITHIN_MS, env: { SERVER: srv.url } })
  assert.match(run.stdout, /DONE/, `the script did not finish: ${run.stderr.slice(0, 2000)}`)
  assert.ok(!run.killed, `the process was still alive ${EXIT_WITHIN_MS} ms after it finished`)
  assert.equal(run.code, 0, run.stderr.slice(0, 2000))
  assert.ok(srv.count('/activity') >= 1)
}

test('a Node process that used get exits by itself', { timeout: 10_000 }, async (t) => {
  await exitsByItself(t, `await client.get('/activity')`)
})

test('a Node process that polled exits by itself after stop()', { timeout: 10_000 }, async (t) => {
  await exitsByItself(t, `
await new Promise((resolve) => {
  const poller = client.poll('/activity', {
    intervalMs: 100,
    onData: () => { poller.stop(); resolve() },
  })
})`)
})
