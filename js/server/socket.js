// The socket protocol (docs/socket-protocol.md) over `ws`: subscribe /
// unsubscribe from the client; data / error from the server. A connection is
// one user's: every subscription is decided by `authorize(req, key)` with the
// upgrade request, and its data is loaded with that request's credentials.
import { createRequire } from 'node:module'
import { FORWARD, answerOf, checked, fail, isPath, itemHeaders, replay } from './inject.js'

const DEFAULTS = {
  maxSubscriptions: 100,
  maxPayload: 64 * 1024,
  pingMs: 30_000,
  timeoutMs: 10_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  concurrency: 8,
}
const HOOKS = ['onOpen', 'onClose', 'onMessage', 'onSend']
const OPTIONS = [...Object.keys(DEFAULTS), ...HOOKS, 'authorize', 'load', 'listener', 'origins', 'WebSocketServer']

/** An error whose message a client may read (like http-errors' `expose`). */
const shown = (e) => (e !== null && typeof e === 'object' && e.expose === true && typeof e.message === 'string' ? e.message : null)

function checkOptions(options) {
  const o = checked(options, 'socketHandler', OPTIONS, DEFAULTS, ['load', 'listener', ...HOOKS], ['pingMs'])
  if (typeof options.authorize !== 'function') {
    throw fail('option `authorize(req, key)` is required: it decides whether the connection of `req` may subscribe to `key`')
  }
  const origins = options.origins ?? 'same-origin'
  if (!(origins === '*' || origins === 'same-origin' || typeof origins === 'function' ||
      (Array.isArray(origins) && origins.every((x) => typeof x === 'string')))) {
    throw fail('option `origins` must be "same-origin", "*", an array of origins or a function')
  }
  let WSS = options.WebSocketServer
  if (WSS === undefined) {
    try {
      WSS = createRequire(import.meta.url)('ws').WebSocketServer
    } catch {
      throw fail('socketHandler needs the `ws` package: `npm install ws`, or pass its WebSocketServer as option `WebSocketServer`')
    }
  }
  if (typeof WSS !== 'function') throw fail('option `WebSocketServer` must be the `ws` package\'s WebSocketServer class')
  return { ...o, origins, WSS }
}

/** Whether the browser page at `origin` may open a socket here. */
function originOk(origins, req) {
  const origin = req.headers.origin
  if (origins === '*' || origin === undefined) return true // not a browser page: cookies do not ride along
  if (typeof origins === 'function') return origins(origin, req) === true
  if (Array.isArray(origins)) return origins.includes(origin)
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}

const refuse = (socket, status, text) => {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * A WebSocket endpoint for calmfetch's `socket` option (see docs/server.md):
 * `upgrade(req, socket, head)` or `attach(server, { path })` to connect it,
 * `publish(key, data)` and `refresh(key)` to push.
 */
export function socketHandler(options) {
  const o = checkOptions(options)
  const wss = new o.WSS({ noServer: true, maxPayload: o.maxPayload })
  /** Open connections: { ws, req, keys: Map<key, { pushed }>, pending: Map<key, token> } */
  const conns = new Set()
  /** key -> the connections subscribed to it. */
  const index = new Map()
  let subscriptions = 0
  let closed = false

  const hook = (name, ...args) => {
    try {
      o[name]?.(...args)
    } catch (e) {
      console.error(`calmfetch/server: socketHandler's ${name} threw`, e)
    }
  }

  function send(conn, msg) {
    const { ws } = conn
    if (ws.readyState !== ws.OPEN) return false
    if (ws.bufferedAmount > o.maxBufferedBytes) {
      ws.terminate() // a client that does not read: drop it rather than buffer without end
      return false
    }
    ws.send(JSON.stringify(msg))
    hook('onSend', msg, conn)
    return true
  }
  const sendError = (conn, key, message) => send(conn, { type: 'error', key, message })

  function add(conn, key) {
    const entry = { pushed: false }
    conn.keys.set(key, entry)
    let set = index.get(key)
    if (set === undefined) index.set(key, (set = new Set()))
    set.add(conn)
    subscriptions++
    return entry
  }

  function remove(conn, key) {
    if (!conn.keys.delete(key)) return
    subscriptions--
    const set = index.get(key)
    set.delete(conn)
    if (set.size === 0) index.delete(key)
  }

  /** The data of `key` for the connection of `req`: `{ body }`, or `{ message }` when there is none. */
  async function load(key, req) {
    try {
      if (o.load !== undefined) return { body: await o.load(key, req) }
      if (o.listener === undefined) return null
      const { answer, abort } = replay(o.listener, req, key, itemHeaders({}, req, FORWARD))
      const timer = setTimeout(abort, o.timeoutMs)
      try {
        const r = answerOf(await answer, ['content-type'])
        return r.status === 200 ? { body: r.body } : { message: `GET ${key} answered ${r.status}` }
      } finally {
        clearTimeout(timer)
      }
    } catch (e) {
      return { message: shown(e) ?? 'the data of this key could not be loaded' }
    }
  }

  async function subscribe(conn, key) {
    if (!isPath(key) || key.length > 2048) return sendError(conn, typeof key === 'string' ? key : null, 'subscribe needs a string "key" that is a path')
    if (!conn.keys.has(key) && !conn.pending.has(key) && conn.keys.size + conn.pending.size >= o.maxSubscriptions) {
      return sendError(conn, key, `too many subscriptions on this connection (at most ${o.maxSubscriptions})`)
    }
    let entry = conn.keys.get(key)
    if (entry === undefined) {
      const token = {}
      conn.pending.set(key, token)
      let ok
      try {
        ok = (await o.authorize(conn.req, key)) === true
      } catch (e) {
        console.error('calmfetch/server: socketHandler\'s authorize threw', e)
        ok = false
      }
      if (conn.pending.get(key) !== token) return // unsubscribed meanwhile, or closed
      conn.pending.delete(key)
      if (!ok) return sendError(conn, key, 'not authorized')
      entry = add(conn, key)
    }
    entry.pushed = false
    const data = await load(key, conn.req)
    if (conn.keys.get(key) !== entry || data === null) return
    if (data.message !== undefined) {
      remove(conn, key)
      return sendError(conn, key, data.message)
    }
    if (!entry.pushed) send(conn, { type: 'data', key, body: data.body })
  }

  function message(conn, raw, isBinary) {
    let msg
    try {
      msg = JSON.parse(isBinary ? Buffer.from(raw).toString('utf8') : raw.toString())
    } catch {
      sendError(conn, null, 'malformed message: not JSON')
      return hook('onMessage', undefined, conn)
    }
    const key = msg?.key
    if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
      sendError(conn, null, 'malformed message: missing "type"')
    } else if (msg.type === 'subscribe') {
      subscribe(conn, key).catch((e) => console.error('calmfetch/server: a subscription failed', e))
    } else if (msg.type === 'unsubscribe') {
      if (typeof key !== 'string') sendError(conn, null, 'unsubscribe needs a string "key"')
      else {
        conn.pending.delete(key)
        remove(conn, key)
      }
    } else sendError(conn, typeof key === 'string' ? key : null, `unknown message type ${JSON.stringify(msg.type.slice(0, 40))}`)
    hook('onMessage', msg, conn)
  }

  function connection(ws, req) {
    const conn = { ws, req, keys: new Map(), pending: new Map(), alive: true }
    conns.add(conn)
    ws.on('message', (raw, isBinary) => message(conn, raw, isBinary))
    ws.on('pong', () => (conn.alive = true))
    ws.on('error', () => {}) // 'close' follows
    ws.on('close', () => {
      if (!conns.delete(conn)) return
      conn.pending.clear()
      for (const key of [...conn.keys.keys()]) remove(conn, key)
      hook('onClose', conn)
    })
    hook('onOpen', conn)
  }

  const ping =
    o.pingMs > 0
      ? setInterval(() => {
          for (const conn of conns) {
            if (!conn.alive) conn.ws.terminate()
            else {
              conn.alive = false
              conn.ws.ping()
            }
          }
        }, o.pingMs)
      : null
  ping?.unref?.()

  function upgrade(req, socket, head) {
    if (closed) return refuse(socket, 503, 'Service Unavailable')
    let ok
    try {
      ok = originOk(o.origins, req)
    } catch {
      ok = false
    }
    if (!ok) return refuse(socket, 403, 'Forbidden')
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (closed) return ws.terminate()
      connection(ws, req)
    })
  }

  /** Each connection subscribed to a key `match` accepts: (conn, key). */
  function* matching(match) {
    if (typeof match === 'string') {
      for (const conn of index.get(match) ?? []) yield [conn, match]
      return
    }
    if (typeof match !== 'function') throw fail('publish and refresh take a key or a function (key) => boolean')
    for (const [key, set] of [...index]) if (match(key)) for (const conn of [...set]) yield [conn, key]
  }

  return {
    upgrade,

    /** Serve upgrades of `server` at `path` (default '/ws'); returns a function that detaches. */
    attach(server, { path = '/ws' } = {}) {
      const onUpgrade = (req, socket, head) => {
        let p
        try {
          p = new URL(req.url, 'http://x').pathname
        } catch {
          p = null
        }
        if (p === path) return upgrade(req, socket, head)
        if (server.listenerCount('upgrade') === 1) refuse(socket, 404, 'Not Found')
      }
      server.on('upgrade', onUpgrade)
      return () => server.off('upgrade', onUpgrade)
    },

    /** Send `data` to every connection subscribed to the key(s); returns how many got it. */
    publish(match, data) {
      let n = 0
      for (const [conn, key] of matching(match)) {
        const entry = conn.keys.get(key)
        if (send(conn, { type: 'data', key, body: data })) {
          entry.pushed = true
          n++
        }
      }
      return n
    },

    /** Load the key(s) again for each subscribed connection, with its own credentials, and send the data. */
    async refresh(match) {
      const todo = [...matching(match)]
      let sent = 0
      // At most `concurrency` loads at a time, however many subscribers.
      const worker = async () => {
        while (todo.length > 0) {
          const [conn, key] = todo.shift()
          const entry = conn.keys.get(key)
          if (entry === undefined) continue
          const data = await load(key, conn.req)
          if (data === null || conn.keys.get(key) !== entry) continue
          if (data.message !== undefined) sent += sendError(conn, key, data.message) ? 1 : 0
          else {
            entry.pushed = true
            sent += send(conn, { type: 'data', key, body: data.body }) ? 1 : 0
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(o.concurrency, todo.length) }, worker))
      return sent
    },

    /** Open connections now. */
    get connections() {
      return conns.size
    },

    /** (connection, key) subscriptions now. */
    get subscriptions() {
      return subscriptions
    },

    /** Close every connection (code 1001, or `code`) and stop. */
    close(code = 1001, reason = 'server closing') {
      closed = true
      if (ping !== null) clearInterval(ping)
      for (const conn of [...conns]) {
        conn.ws.close(code, reason)
        conn.ws.terminate()
      }
      wss.close()
    },
  }
}
