// `POST /batch` (docs/batch-protocol.md): each item is replayed as a GET
// through the app's own request listener, in process, with the batch's
// credentials; the answers go back as one JSON document or, when the client
// asks for `application/x-ndjson`, one line per item as soon as it is done.
import { FORWARD, KEEP, TOKEN, answerOf, batchItemOf, checked, fail, isPath, itemHeaders, names, replay } from './inject.js'

const DEFAULTS = { maxItems: 100, maxBytes: 256 * 1024, maxDepth: 8, timeoutMs: 10_000, concurrency: 6 }
const OPTIONS = [...Object.keys(DEFAULTS), 'forwardHeaders', 'responseHeaders', 'onItem']
const MAX_ID = 256

/** A request the handler refuses as a whole: status and message. */
class Refusal {
  constructor(status, message) {
    this.status = status
    this.message = message
  }
}

function checkOptions(listener, options) {
  if (typeof listener !== 'function') {
    throw fail('batchHandler(listener) needs the app\'s request listener: an Express app, koa.callback(), fastify.routing or `(req, res) => {}`')
  }
  const o = checked(options, 'batchHandler', OPTIONS, DEFAULTS, ['onItem'])
  o.forward = [...new Set([...FORWARD, ...names(options.forwardHeaders, 'forwardHeaders', fail)])]
  o.keep = [...new Set([...KEEP.map((n) => n.toLowerCase()), ...names(options.responseHeaders, 'responseHeaders', fail)])]
  return o
}

/** How deep `text` (JSON) nests, counted without parsing it. */
function depthOf(text, limit) {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 123 || c === 91) {
      if (++depth > limit) return depth
    } else if (c === 125 || c === 93) depth--
  }
  return depth
}

/** How deep a parsed value nests (an app's body parser may have parsed the body already). */
function depthOfValue(v, limit, depth = 0) {
  if (v === null || typeof v !== 'object') return depth
  if (depth + 1 > limit) return depth + 1
  let max = depth + 1
  for (const k in v) max = Math.max(max, depthOfValue(v[k], limit, depth + 1))
  return max
}

/** The body of `req` as text, at most `max` bytes; null when the client left first. */
function readText(req, max) {
  if (req.readableEnded) return Promise.resolve('')
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    const done = (f, v) => {
      req.off('data', data)
      req.off('end', end)
      req.off('error', gone)
      req.off('close', gone)
      f(v)
    }
    const data = (chunk) => {
      size += chunk.length
      if (size > max) {
        req.pause()
        return done(reject, new Refusal(413, `the batch is larger than ${max} bytes`))
      }
      chunks.push(chunk)
    }
    const end = () => done(resolve, Buffer.concat(chunks).toString('utf8'))
    const gone = () => done(resolve, null)
    req.on('data', data)
    req.on('end', end)
    req.on('error', gone)
    req.on('close', gone)
  })
}

/** The items of a batch document, checked: `[{ id, method, url, headers }]` (header names lower-case). */
function itemsOf(doc, o) {
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.requests)) {
    throw new Refusal(400, 'request body must be an object with a "requests" array')
  }
  const list = doc.requests
  if (list.length > o.maxItems) {
    throw new Refusal(400, `batch has ${list.length} items; this server accepts at most ${o.maxItems}`)
  }
  const seen = new Set()
  return list.map((item, i) => {
    const at = `requests[${i}]`
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new Refusal(400, `${at} must be an object`)
    const { id, url, method = 'GET', headers = {} } = item
    if (typeof id !== 'string' || id.length > MAX_ID) throw new Refusal(400, `${at}.id must be a string of at most ${MAX_ID} characters`)
    if (seen.has(id)) throw new Refusal(400, `${at}.id ${JSON.stringify(id)} is used twice`)
    seen.add(id)
    if (typeof url !== 'string' || url === '') throw new Refusal(400, `${at}.url must be a non-empty string`)
    if (typeof method !== 'string') throw new Refusal(400, `${at}.method must be a string`)
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
      throw new Refusal(400, `${at}.headers must be an object`)
    }
    const own = {}
    for (const [name, value] of Object.entries(headers)) {
      const v = typeof value === 'number' ? String(value) : value
      if (!TOKEN.test(name) || typeof v !== 'string' || /[\r\n\0]/.test(v)) {
        throw new Refusal(400, `${at}.headers has a bad header ${JSON.stringify(name.slice(0, 60))}`)
      }
      own[name.toLowerCase()] = v
    }
    return { id, method: method.toUpperCase(), url, headers: own }
  })
}

const error = (id, status, message, headers = {}) => ({
  id,
  status,
  headers: { 'Content-Type': 'application/json', ...headers },
  body: { error: message },
})

function send(res, status, body) {
  if (res.headersSent || res.destroyed || res.writableEnded) return
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}

/**
 * A Node `(req, res)` handler of `POST /batch` that replays each item through
 * `listener` (see docs/server.md). Its promise settles (never rejects) when
 * the answer is written or the client has gone.
 */
export function batchHandler(listener, options = {}) {
  const o = checkOptions(listener, options)

  return async function batch(req, res) {
    try {
      await handle(req, res)
    } catch (e) {
      if (e instanceof Refusal) {
        // The rest of a body too large is not read: the connection ends with the answer.
        if (e.status === 413 && !res.headersSent) res.setHeader('Connection', 'close')
        return send(res, e.status, { error: e.message })
      }
      if (res.headersSent) res.destroy()
      else send(res, 500, { error: 'the batch failed' })
    }
  }

  async function handle(req, res) {
    if (batchItemOf(req) !== undefined) throw new Refusal(400, 'a batch item cannot be a batch')
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST')
      throw new Refusal(405, 'use POST for a batch')
    }
    const type = String(req.headers['content-type'] ?? '')
    if (!/^application\/([\w.-]+\+)?json\b/i.test(type)) {
      throw new Refusal(415, 'a batch must be sent as Content-Type: application/json')
    }
    if (Number(req.headers['content-length']) > o.maxBytes) throw new Refusal(413, `the batch is larger than ${o.maxBytes} bytes`)
    let doc
    const pre = req.body
    if (pre !== undefined && pre !== null && typeof pre === 'object' && !Buffer.isBuffer(pre)) {
      // Already parsed (express.json(), Fastify, Koa's bodyparser).
      if (depthOfValue(pre, o.maxDepth) > o.maxDepth) throw new Refusal(400, `the batch nests deeper than ${o.maxDepth} levels`)
      doc = pre
    } else {
      let text
      if (typeof pre === 'string' || Buffer.isBuffer(pre)) {
        if (Buffer.byteLength(pre) > o.maxBytes) throw new Refusal(413, `the batch is larger than ${o.maxBytes} bytes`)
        text = String(pre)
      } else {
        text = await readText(req, o.maxBytes)
        if (text === null) return // the client went away
      }
      if (depthOf(text, o.maxDepth) > o.maxDepth) throw new Refusal(400, `the batch nests deeper than ${o.maxDepth} levels`)
      try {
        doc = JSON.parse(text)
      } catch (e) {
        throw new Refusal(400, `request body is not valid JSON (${e.message})`)
      }
    }
    const items = itemsOf(doc, o)
    await run(req, res, items)
  }

  async function run(req, res, items) {
    const ndjson = /application\/x-ndjson/i.test(req.headers.accept ?? '')
    const self = new URL(req.originalUrl ?? req.url ?? '/', 'http://x').pathname
    const open = () => !res.destroyed && !res.writableEnded
    if (!open()) return
    // The client left: start no more items, abort the running ones.
    let gone = false
    const running = new Set()
    const leave = () => {
      gone = true
      for (const abort of running) abort()
    }
    res.once('close', leave)
    const answers = new Array(items.length)
    if (ndjson) {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' })
      res.flushHeaders()
    }
    const out = (i, a) => {
      if (!ndjson) answers[i] = a
      else if (open()) res.write(JSON.stringify(a) + '\n')
    }

    const one = async (item) => {
      if (item.method !== 'GET') {
        return error(item.id, 405, `method ${item.method} is not allowed in a batch; only GET`, { Allow: 'GET' })
      }
      if (!isPath(item.url)) return error(item.id, 400, 'url must be a path on this origin, starting with one "/"')
      let path
      try {
        path = new URL(item.url, 'http://x').pathname
      } catch {
        return error(item.id, 400, 'url is not a valid path')
      }
      if (path === self) return error(item.id, 400, 'a batch item cannot be a batch')
      const headers = itemHeaders(item.headers, req, o.forward)
      const { answer, abort } = replay(listener, req, item.url, headers, { id: item.id, batch: req })
      running.add(abort)
      let timer
      const late = new Promise((resolve) => {
        timer = setTimeout(() => {
          abort()
          resolve(error(item.id, 504, `no answer within ${o.timeoutMs} ms`))
        }, o.timeoutMs)
      })
      const answered = answer.then(
        (r) => ({ id: item.id, ...answerOf(r, o.keep) }),
        () => error(item.id, 502, 'the item\'s handler failed before it answered'),
      )
      try {
        return await Promise.race([answered, late])
      } finally {
        clearTimeout(timer)
        running.delete(abort)
      }
    }

    let next = 0
    const worker = async () => {
      while (next < items.length && !gone) {
        const i = next++
        const item = items[i]
        let a
        try {
          o.onItem?.({ id: item.id, method: item.method, url: item.url, headers: { ...item.headers } }, req)
          a = await one(item)
        } catch {
          a = error(item.id, 500, 'the item failed')
        }
        out(i, a)
      }
    }
    await Promise.all(Array.from({ length: Math.min(o.concurrency, items.length) }, worker))
    res.off('close', leave)
    if (!open()) return
    if (ndjson) res.end()
    else {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
      res.end(JSON.stringify({ responses: answers }))
    }
  }
}
