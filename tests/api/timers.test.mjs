// Defects 7 and 10 of issue 14: long delays never fire at once (so the one
// timer does not spin), every HTTP-date form of Retry-After is honoured, and
// deadlines follow a monotonic clock, not the wall clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  clientOf, closeBroadcastChannelsAfter, countSetTimeout, reply, serve, sleep, waitFor, within,
} from './helpers.mjs'

// Node warns once per process when a delay does not fit in 32 bits (and
// then fires it after 1 ms): that is what the tests below look for, so
// keep its warning out of the test output.
process.on('warning', () => {})
process.removeAllListeners('warning')

test('timeoutMs of 3e9 does not make the timer spin', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, () => {}) // never answers
  const client = clientOf(srv, { timeoutMs: 3e9 })
  const timers = countSetTimeout(t)
  const pending = client.get('/hang')
  pending.catch(() => {}) // rejects when the server closes after the test
  await waitFor(() => srv.count('/hang') === 1, 1_000, 'the request')
  await sleep(300)
  assert.ok(timers.calls < 10, `${timers.calls} setTimeout calls in 300 ms`)
})

/**
 * A poller of `/p` on a server that answers 503 with `Retry-After:
 * retryAfter()`, its first answer in. Resolves `{ srv, poller }`.
 */
async function pollTurnedAway(t, retryAfter, intervalMs) {
  closeBroadcastChannelsAfter(t)
  const sent = []
  const srv = await serve(t, (req, res) => {
    sent.push(retryAfter())
    reply(res, 503, { error: 'busy' }, { 'Retry-After': sent.at(-1) })
  })
  const client = clientOf(srv, { circuit: false })
  const errors = []
  const poller = client.poll('/p', { intervalMs, onError: (e) => errors.push(e) })
  t.after(() => poller.stop())
  await waitFor(() => errors.length === 1, 2_000, 'the first 503')
  assert.equal(errors[0].status, 503)
  return { srv, poller, sent }
}

test('a Retry-After date in the year 9999 does not make a poller spin', { timeout: 5_000 }, async (t) => {
  const { srv } = await pollTurnedAway(t, () => 'Fri, 31 Dec 9999 23:59:59 GMT', 1_000)
  const timers = countSetTimeout(t)
  await sleep(300)
  assert.ok(timers.calls < 10, `${timers.calls} setTimeout calls in 300 ms`)
  assert.equal(srv.count('/p'), 1)
})

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const two = (n) => String(n).padStart(2, '0')
const clock = (d) => `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
/** RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const rfc850 = (d) =>
  `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ${clock(d)} GMT`
/** asctime: `Sun Nov  6 08:49:37 1994`. */
const asctime = (d) =>
  `${DAYS[d.getUTCDay()].slice(0, 3)} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${clock(d)} ${d.getUTCFullYear()}`

for (const [form, format] of [['IMF-fixdate', (d) => d.toUTCString()], ['RFC 850', rfc850], ['asctime', asctime]]) {
  test(`a poller waits for a Retry-After ${form} date`, { timeout: 5_000 }, async (t) => {
    // Three seconds ahead: at least two once the date drops its milliseconds.
    const { srv, sent } = await pollTurnedAway(t, () => format(new Date(Date.now() + 3_000)), 100)
    await sleep(1_000)
    assert.equal(srv.count('/p'), 1, `polled again within 1 s of "Retry-After: ${sent[0]}" (3 s ahead)`)
  })
}

test('a wall clock stepping back 3 s does not hold a batch window', { timeout: 8_000 }, async (t) => {
  const srv = await serve(t, (req, res) => reply(res, 200, { ok: true }))
  const client = clientOf(srv, { batch: { windowMs: 10 } })
  const realNow = Date.now
  t.after(() => (Date.now = realNow))
  const answer = client.get('/a')
  Date.now = () => realNow.call(Date) - 3_000
  assert.deepEqual(await within(answer, 1_000, 'a batched get with a 10 ms window'), { ok: true })
})
