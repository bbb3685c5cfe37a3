// Defects 5 and 15 of issue 14: options and URLs refused before anything is
// sent (`kind: 'invalid'`), and credentials never echoed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CalmfetchError, clientOf, createClient, rejection, serve } from './helpers.mjs'

/** The error `make()` throws; fails if it does not throw. */
function thrown(make, what) {
  try {
    make()
  } catch (e) {
    return e
  }
  assert.fail(`${what} did not throw`)
}

test('persist without a partition or an Authorization header is refused as invalid', () => {
  const e = thrown(() => createClient({ baseUrl: 'http://127.0.0.1:9', persist: true }), 'createClient({ persist: true })')
  assert.ok(e instanceof CalmfetchError, `not a CalmfetchError: ${e}`)
  assert.equal(e.kind, 'invalid')
  assert.match(e.message, /persist/)
  assert.match(e.message, /partition/)
})

test('persist with a partition or an Authorization header is accepted', () => {
  createClient({ baseUrl: 'http://127.0.0.1:9', persist: true, partition: 'u1' })
  createClient({ baseUrl: 'http://127.0.0.1:9', persist: true, headers: { Authorization: 'Bearer x' } })
  createClient({ baseUrl: 'http://127.0.0.1:9', persist: { name: 'app' }, partition: 'u1' })
})

test('a URL with user:pass@ is refused as invalid, without echoing the password and without sending', { timeout: 5_000 }, async (t) => {
  const srv = await serve(t, (req, res) => res.end('{}'))
  const client = clientOf(srv, { circuit: false })
  const url = `http://user:s3cret@127.0.0.1:${srv.port}/x`
  const e = await rejection(client.get(url), 'a get of a URL with credentials')
  assert.ok(e instanceof CalmfetchError, `not a CalmfetchError: ${e}`)
  assert.equal(e.kind, 'invalid', `kind ${e.kind}: ${e.message}`)
  assert.doesNotMatch(e.message, /s3cret/)
  assert.doesNotMatch(String(e.url ?? ''), /s3cret/)
  assert.equal(srv.total(), 0, 'a request reached the server')
})

test('a baseUrl with user:pass@ is refused as invalid without echoing the password', () => {
  const e = thrown(() => createClient({ baseUrl: 'http://user:s3cret@127.0.0.1:9/' }), 'createClient with credentials in baseUrl')
  assert.ok(e instanceof CalmfetchError, `not a CalmfetchError: ${e}`)
  assert.equal(e.kind, 'invalid')
  assert.doesNotMatch(e.message, /s3cret/)
})
