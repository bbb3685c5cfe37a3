// The realtime socket: a `WebSocket` of calmfetch's own, or an adapter over a
// socket the app already has (`{ connect({ open, close, message }), send(text), close() }`).
// A module of its own, which only a client with `socket` loads (client.js).
//
// Each connection has a generation: handlers of an old connection stay
// callable (an app's socket may still fire them) and do nothing. The hooks
// only feed the core; the client carries out what it asks afterwards, so an
// adapter may call `open()`, `message()` or `close()` from inside
// `connect`, `send` or `close`.
import { messageOf, socketError } from './errors.js'

/**
 * A server message: `{ data: key, body }`, `{ error: key, message }`, or a
 * string that says why it is malformed.
 */
export function decode(text) {
  let m
  try {
    m = JSON.parse(text)
  } catch (e) {
    return `not a JSON object (${messageOf(e)})`
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'not a JSON object'
  const { type, key } = m
  if (typeof key !== 'string') return 'no string `key`'
  if (type === 'data') return 'body' in m ? { data: key, body: m.body } : 'a data message without `body`'
  if (type === 'error') return { error: key, message: typeof m.message === 'string' ? m.message : 'error' }
  return typeof type === 'string' ? `unknown message type \`${type}\`` : 'no string `type`'
}


/** `subscribe` or `unsubscribe` a topic (path and query). */
export const encode = (subscribe, key) => JSON.stringify({ type: subscribe ? 'subscribe' : 'unsubscribe', key })

export class Socket {
  #cfg
  #hooks
  #ws = null
  #generation = 0
  #connected = false
  /**
   * @param {{ url?: string, adapter?: object, onError?: Function }} cfg
   * @param {{ open(): void, close(): void, message(m: object | string, text: string): void }} hooks
   *   (`message` gets the decoded message, or why it is malformed, and its text)
   */
  constructor(cfg, hooks) {
    this.#cfg = cfg
    this.#hooks = hooks
  }

  /** Open a connection (the core's SOCKET_OPEN); false if it could not be. */
  open() {
    this.close()
    const g = ++this.#generation
    const current = (f) => (e) => g === this.#generation && f(e)
    const open = current(() => this.#hooks.open())
    const close = current(() => this.#hooks.close())
    const message = current((e) => {
      let text = typeof e === 'string' ? e : e?.data
      if (typeof text !== 'string') text = '<binary frame>'
      const m = decode(text)
      this.#hooks.message(m, text)
      if (typeof m === 'string') this.problem(`malformed socket message: ${m}: ${Array.from(text.slice(0, 160)).slice(0, 80).join('')}`)
    })
    this.#connected = true
    try {
      const { adapter, url } = this.#cfg
      if (adapter === undefined) {
        const ws = new globalThis.WebSocket(url)
        ws.onopen = open
        ws.onclose = close
        ws.onmessage = message
        this.#ws = ws
      } else adapter.connect({ open, close, message })
      return true
    } catch (e) {
      this.problem(`the socket could not be opened: ${messageOf(e)}`)
      return false
    }
  }

  /** `subscribe` (or not) a topic (path and query) on the open socket. */
  send(subscribe, key) {
    const { adapter } = this.#cfg
    const text = encode(subscribe, key)
    try {
      if (adapter !== undefined) adapter.send(text)
      else this.#ws?.send(text)
    } catch (e) {
      this.problem(`a socket message could not be sent: ${messageOf(e)}`)
    }
  }

  /** Forget the current connection: its late events are ignored; close it. */
  close() {
    this.#generation++
    const ws = this.#ws
    const { adapter } = this.#cfg
    this.#ws = null
    if (ws !== null) {
      ws.onopen = ws.onclose = ws.onmessage = null
      try {
        ws.close()
      } catch {}
    }
    if (this.#connected && adapter !== undefined && typeof adapter.close === 'function') {
      this.#connected = false
      try {
        adapter.close()
      } catch {}
    }
    this.#connected = false
  }

  /** Tell the app's `socket.onError` (or the console). */
  problem(message) {
    const e = socketError(message)
    const f = this.#cfg.onError
    if (f === undefined) console.warn(e)
    else {
      try {
        f(e)
      } catch (thrown) {
        console.error('calmfetch: socket.onError threw', thrown)
      }
    }
  }
}
