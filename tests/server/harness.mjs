// Shared by tests/server/*.test.mjs: calmfetch/server (this checkout's
// js/server, what pkg/server.js is built from) in front of a real Express app
// and a plain `node:http` listener, with the built browser client (pkg/) on
// the other end. Every server listens on 127.0.0.1, port 0, and is closed by
// `t.after`.
import http from 'node:http'
import { once } from 'node:events'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import express from 'express'

export { sleep }

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const PKG = resolve(process.env.CALMFETCH_PKG ?? join(repo, 'pkg'))
export const { createClient, CalmfetchError } = await import(pathToFileURL(join(PKG, 'index.js')).href)
/** The server half under test: the built package's `calmfetch/server` (pkg/server.js). */
export const server = await import(pathToFileURL(join(PKG, 'server.js')).href)

/**
 * What the item routes saw: `hits` per path, every request's headers
 * (`seen`), the most items in flight at once (`peak`), and how many were
 * closed before they answered (`aborted`).
 */
export function recorder() {
  const rec = { hits: new Map(), seen: [], inFlight: 0, peak: 0, notModified: 0, aborted: 0 }
  rec.count = (path) => rec.hits.get(path) ?? 0
  rec.enter = (req) => {
    const path = req.url.split('?')[0]
    rec.hits.set(path, (rec.hits.get(path) ?? 0) + 1)
    rec.seen.push({ url: req.url, headers: { ...req.headers }, item: server.batchItemOf(req) })
    rec.inFlight++
    rec.peak = Math.max(rec.peak, rec.inFlight)
  }
  rec.leave = () => rec.inFlight--
  return rec
}

/**
 * The data routes both apps have, as a plain `(req, res)`:
 *   /data/NAME?delay=MS   {name, auth, cookie, n}; ETag "NAME-v1"; 304 on If-None-Match
 *   /whoami               the Authorization and Cookie it was sent
 *   /leaky                sets X-Secret and Set-Cookie from the item's X-Mine header
 */
function routes(rec) {
  return async (req, res) => {
    const url = new URL(req.url, 'http://x')
    rec.enter(req)
    let answered = false
    res.once('close', () => answered || rec.aborted++)
    try {
      await sleep(Number(url.searchParams.get('delay') ?? 0))
      answered = true
      const json = (status, body, headers = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
        res.end(body === undefined ? undefined : JSON.stringify(body))
      }
      const m = /^\/data\/([\w-]+)$/.exec(url.pathname)
      if (m) {
        const etag = `"${m[1]}-v1"`
        if (req.headers['if-none-match'] === etag) {
          rec.notModified++
          res.writeHead(304, { ETag: etag, 'Cache-Control': 'max-age=0' })
          return res.end()
        }
        return json(200, { name: m[1], auth: req.headers.authorization ?? null, cookie: req.headers.cookie ?? null },
          { ETag: etag, 'Cache-Control': 'max-age=0', 'Retry-After': '7' })
      }
      if (url.pathname === '/whoami') {
        return json(200, { auth: req.headers.authorization ?? null, cookie: req.headers.cookie ?? null, mine: req.headers['x-mine'] ?? null })
      }
      if (url.pathname === '/leaky') {
        return json(200, { mine: req.headers['x-mine'] ?? null }, { 'X-Secret': String(req.headers['x-mine']), 'Set-Cookie': `s=${req.headers['x-mine']}` })
      }
      json(404, { error: `no route ${url.pathname}` })
    } finally {
      rec.leave()
    }
  }
}

async function listen(t, listener) {
  const srv = http.createServer(listener)
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  t.after(() => {
    srv.closeAllConnections()
    return new Promise((r) => srv.close(r))
  })
  return { srv, url: `http://127.0.0.1:${srv.address().port}` }
}

/** An Express app with /batch (batchHandler(app, options)) and the data routes. */
export async function expressApp(t, options = {}) {
  const rec = recorder()
  const app = express()
  app.use(express.json())
  app.post('/batch', server.batchHandler(app, options))
  app.post('/echo', (req, res) => res.json({ body: req.body, ip: req.ip }))
  app.get(/^\/(data|whoami|leaky)/, routes(rec))
  const { srv, url } = await listen(t, app)
  return { app, rec, srv, url }
}

/** A plain `node:http` listener with /batch (batchHandler(listener, options)) and the data routes. */
export async function plainApp(t, options = {}) {
  const rec = recorder()
  const data = routes(rec)
  let batch
  const listener = (req, res) => (req.url.split('?')[0] === '/batch' ? batch(req, res) : data(req, res))
  batch = server.batchHandler(listener, options)
  const { srv, url } = await listen(t, listener)
  return { rec, srv, url, listener }
}

export const APPS = { express: expressApp, plain: plainApp }

/** POST a batch document (an object, or text as is); resolves with { status, body (parsed when JSON), res }. */
export async function post(url, doc, headers = {}) {
  const res = await fetch(`${url}/batch`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof doc === 'string' ? doc : JSON.stringify(doc),
  })
  const text = await res.text()
  let body = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, res }
}

/** The answers of a plain batch answer, by id. */
export const byId = (body) => Object.fromEntries(body.responses.map((a) => [a.id, a]))
