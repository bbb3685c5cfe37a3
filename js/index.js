// calmfetch: the JS face of the wasm client.
//
// The wasm module is inlined (LZMA-compressed, in base64) and instantiated
// synchronously the first time a client is made, so `createClient` is
// synchronous, there is no `init()` to call, and nothing runs at import time
// (safe for SSR).
import { initSync, WasmClient, __setErrorClass } from './calmfetch_wasm.js'
import wasmBase64, { size as wasmSize } from './calmfetch_wasm_bytes.js'
import { unlzma } from './unlzma.js'

/** Every error calmfetch hands out. `kind` says which class of failure. */
export class CalmfetchError extends Error {
  constructor(message, details = {}) {
    super(message)
    this.name = details.name ?? 'CalmfetchError'
    this.kind = details.kind
    if (details.url !== undefined) this.url = details.url
    if (details.status !== undefined) this.status = details.status
    if ('body' in details) this.body = details.body
  }
}

let loaded = false
function loadWasm() {
  if (loaded) return
  const text = atob(wasmBase64)
  const bytes = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i)
  initSync({ module: unlzma(bytes, wasmSize) })
  __setErrorClass(CalmfetchError)
  loaded = true
}

class Client {
  #wasm
  constructor(wasm) {
    this.#wasm = wasm
  }
  get(url, options) {
    return this.#wasm.get(url, options)
  }
  subscribe(url, listener, options) {
    const id = this.#wasm.subscribe(url, listener, options)
    let active = true
    return () => {
      if (active) {
        active = false
        this.#wasm.unsubscribe(id)
      }
    }
  }
  peek(url, options) {
    return this.#wasm.peek(url, options)
  }
  poll(url, options) {
    const { onData, onError, ...rest } = options ?? {}
    for (const [name, fn] of [['onData', onData], ['onError', onError]]) {
      if (fn !== undefined && typeof fn !== 'function') {
        throw new CalmfetchError(`calmfetch: poll: option \`poll.${name}\` must be a function`, { kind: 'invalid' })
      }
    }
    const keyOptions = { headers: rest.headers, partition: rest.partition }
    const id = this.#wasm.poll(url, rest)
    let lastData = undefined
    let lastError = undefined
    const deliver = (snapshot) => {
      if (snapshot.data !== undefined && snapshot.data !== lastData && snapshot.error === undefined) {
        lastData = snapshot.data
        onData?.(snapshot.data)
      } else if (snapshot.error !== undefined && snapshot.error !== lastError) {
        lastError = snapshot.error
        onError?.(snapshot.error)
      }
    }
    const unsubscribe = this.subscribe(url, deliver, keyOptions)
    let active = true
    // Data already cached is delivered at once (after this call returns).
    queueMicrotask(() => active && deliver(this.#wasm.peek(url, keyOptions)))
    return {
      stop: () => {
        if (active) {
          active = false
          unsubscribe()
          this.#wasm.pollStop(id)
        }
      },
    }
  }
  refresh(url, options) {
    return this.#wasm.refresh(url, options)
  }
  prefetch(url, options) {
    return this.#wasm.prefetch(url, options)
  }
  prefetchOnHover(element, url, options) {
    const h = this.prefetchHandlers(url, options)
    const events = [
      ['mouseenter', h.onMouseEnter], ['focus', h.onFocus], ['mouseleave', h.onMouseLeave],
      ['blur', h.onBlur], ['touchstart', h.onTouchStart], ['mousedown', h.onMouseDown],
    ]
    for (const [type, fn] of events) element.addEventListener(type, fn, { passive: true })
    return () => {
      h.onMouseLeave()
      for (const [type, fn] of events) element.removeEventListener(type, fn)
    }
  }
  /** Hover handlers for a link (used by \`usePrefetch\`). */
  prefetchHandlers(url, options) {
    let intent = 0
    const start = () => {
      this.#wasm.hoverEnd(intent)
      intent = this.#wasm.hoverStart(url, options)
    }
    const end = () => {
      this.#wasm.hoverEnd(intent)
      intent = 0
    }
    const now = () => {
      this.#wasm.prefetch(url, options)
    }
    return { onMouseEnter: start, onMouseLeave: end, onFocus: start, onBlur: end, onTouchStart: now, onMouseDown: now }
  }
  invalidate(urlOrPrefix) {
    return this.#wasm.invalidate(urlOrPrefix)
  }
  clear() {
    this.#wasm.clear()
  }
  stats() {
    return this.#wasm.stats()
  }
}

/** Make a client. Throws a `CalmfetchError` (kind `invalid`) on bad options. */
export function createClient(options) {
  loadWasm()
  return new Client(new WasmClient(options))
}
