// Firefox ESR (geckodriver) and WebKitGTK (WebKitWebDriver + MiniBrowser)
// behind the part of Playwright's API that the browser suites use, over
// classic W3C WebDriver. Chromium keeps using Playwright itself.
//
// Each browser context is one WebDriver session with its own driver process
// and its own browser profile (Playwright's contexts are isolated the same
// way); each page is a window of that session, not a tab, so that every page
// is visible as in Playwright. Commands of one context run one at a time
// (WebDriver has one "current window" per session), so a page switches to
// its window before each command. The pointer moves through WebDriver
// actions: real pointer events in the page.
//
// Where classic WebDriver has no equivalent, this says what it does instead:
// - `addInitScript(fn)` runs `fn` right after each navigation has loaded,
//   not before the page's own scripts;
// - `url()` is the location as of the page's last command;
// - an `import()` inside `evaluate` may load a second instance of the module
//   (Firefox runs WebDriver's scripts in a sandbox): let the page import;
// - `on('pageerror' | 'console')` hears what the page reports after it
//   loaded: uncaught errors, unhandled rejections and console calls are
//   buffered in the page and delivered with the next command's answer;
// - `browser.newPage()` opens a window of one shared context, not a context
//   of its own (see Browser.newPage).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'
const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser'
const COMMAND_MS = 90_000 // no driver command may take longer
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** What each browser needs: its driver, its binary and its capabilities. */
export const KINDS = {
  firefox: {
    driver: () => process.env.GECKODRIVER ?? 'geckodriver',
    args: (port) => ['--host', '127.0.0.1', '--port', String(port)],
    capabilities: () => ({
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
        args: ['-headless'],
        // The machine has no network: keep the browser online anyway (calmfetch
        // pauses polling while navigator.onLine is false) and quiet.
        prefs: {
          'network.manage-offline-status': false,
          'network.captive-portal-service.enabled': false,
          'network.connectivity-service.enabled': false,
          'browser.safebrowsing.update.enabled': false,
        },
      },
    }),
    display: false,
  },
  webkit: {
    driver: () => process.env.WEBKITWEBDRIVER ?? 'WebKitWebDriver',
    args: (port) => [`--port=${port}`],
    capabilities: () => ({
      'webkitgtk:browserOptions': {
        binary: process.env.MINIBROWSER_PATH ?? MINIBROWSER,
        args: ['--automation'],
      },
    }),
    display: true, // MiniBrowser is a GTK window: it needs an X display (Xvfb)
  },
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// Every process started here, killed (with its process group) at exit
// whatever happens.
const children = new Set()
export function start(cmd, args, env) {
  const child = spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
  child.stderrTail = () => stderr
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}
export function kill(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    child.kill('SIGKILL')
  }
}
const temporary = new Set()
process.on('exit', () => {
  for (const c of children) kill(c)
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true })
})
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

/** An X display for WebKit: $DISPLAY if set, or an Xvfb of our own. */
export async function xDisplay() {
  if (process.env.DISPLAY) return { display: process.env.DISPLAY, close() {} }
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1920x1200x24', '-nolisten', 'tcp'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  })
  children.add(xvfb)
  xvfb.on('exit', () => children.delete(xvfb))
  const number = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Xvfb did not start within 10 s')), 10_000)
    let out = ''
    xvfb.stdio[3].on('data', (d) => {
      out += d
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(out.trim())
      }
    })
    xvfb.on('exit', (code) => reject(new Error(`Xvfb exited with ${code}`)))
  })
  return { display: `:${number}`, close: () => kill(xvfb) }
}

/** Launch `firefox` or `webkit`; resolves to a Playwright-like Browser. */
export async function launchWebDriver(kind) {
  const spec = KINDS[kind]
  if (!spec) throw new Error(`unknown browser ${kind}: chromium, firefox or webkit`)
  const x = spec.display ? await xDisplay() : null
  const env = { ...process.env, ...(x ? { DISPLAY: x.display } : {}) }
  // The drivers' temporary files (Firefox's profiles) go to a folder of our
  // own, removed at the end: contexts are closed by killing their processes.
  const tmp = mkdtempSync(join(tmpdir(), `calmfetch-${kind}-`))
  temporary.add(tmp)
  env.TMPDIR = tmp
  const browser = new Browser(kind, spec, env, x, tmp)
  // One context up front: fails early if the browser cannot start, gives
  // version(), and is handed out by the first newContext().
  browser._spare = await browser.newContext()
  browser._version = browser._spare._capabilities.browserVersion
  return browser
}

class Browser {
  constructor(kind, spec, env, x, tmp) {
    Object.assign(this, { kind, _spec: spec, _env: env, _x: x, _tmp: tmp, _contexts: new Set() })
  }
  version() {
    return this._version
  }
  async newContext(options = {}) {
    if (this._spare) {
      const ctx = this._spare
      this._spare = null
      ctx._options = options
      return ctx
    }
    const ctx = new Context(this, options)
    this._contexts.add(ctx)
    try {
      await ctx._start()
    } catch (e) {
      await ctx.close()
      throw e
    }
    return ctx
  }
  /**
   * A page. Unlike Playwright, not in a context of its own: a window of one
   * context that every `browser.newPage()` shares (a browser and profile
   * start in 0.3 s for WebKit but 2 s for Firefox). The suites that use it
   * tag their requests and close each page when done.
   */
  async newPage() {
    this._shared ??= await this.newContext()
    return this._shared.newPage()
  }
  async close() {
    await Promise.all([...this._contexts].map((c) => c.close().catch(() => {})))
    this._x?.close()
    rmSync(this._tmp, { recursive: true, force: true })
    temporary.delete(this._tmp)
  }
}

class Context {
  constructor(browser, options) {
    Object.assign(this, { _browser: browser, _options: options, _pages: [], _queue: Promise.resolve(), _current: null })
  }

  async _start() {
    const { _spec: spec, _env: env } = this._browser
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      this._driver = start(spec.driver(), spec.args(port), env)
      this._url = `http://127.0.0.1:${port}`
      try {
        await this._waitForDriver()
        const r = await this._raw('POST', '/session', {
          capabilities: { alwaysMatch: { ...spec.capabilities(), timeouts: { script: 120_000, pageLoad: 30_000 } } },
        })
        this._session = r.sessionId
        this._capabilities = r.capabilities
        break
      } catch (e) {
        kill(this._driver)
        if (attempt >= 3) throw new Error(`${this._browser.kind} did not start: ${e.message}\n${this._driver.stderrTail()}`)
      }
    }
    this._firstWindow = (await this._raw('GET', `/session/${this._session}/window`))
  }

  async _waitForDriver() {
    const end = Date.now() + 15_000
    for (;;) {
      if (this._driver.exitCode !== null) throw new Error(`the driver exited: ${this._driver.stderrTail()}`)
      try {
        const r = await fetch(`${this._url}/status`, { signal: AbortSignal.timeout(1000) })
        if (r.ok) return
      } catch {}
      if (Date.now() > end) throw new Error('the driver did not answer within 15 s')
      await sleep(50)
    }
  }

  /** One HTTP command to the driver; returns `value` or throws its error. */
  async _raw(method, path, body) {
    const r = await fetch(this._url + path, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(COMMAND_MS),
    })
    const json = await r.json()
    if (!r.ok || json.value?.error) {
      const e = new Error(`${method} ${path}: ${json.value?.error}: ${json.value?.message}`)
      e.webdriver = json.value?.error
      throw e
    }
    return json.value
  }

  /** Run `fn` (which sends commands for `handle`'s window) alone, in order. */
  _serial(handle, fn) {
    const run = this._queue.then(async () => {
      if (this._closed) throw new Error('the browser context is closed')
      if (handle !== null && this._current !== handle) {
        await this._raw('POST', `/session/${this._session}/window`, { handle })
        this._current = handle
      }
      return fn((method, path, body) => this._raw(method, `/session/${this._session}${path}`, body))
    })
    this._queue = run.catch(() => {})
    return run
  }

  async newPage() {
    let handle
    if (this._pages.length === 0 && this._firstWindow) {
      handle = this._firstWindow
      this._firstWindow = null
    } else {
      // A window, not a tab: a background tab is hidden, and calmfetch pauses there.
      handle = await this._serial(null, async (cmd) => (await cmd('POST', '/window/new', { type: 'window' })).handle)
    }
    const page = new Page(this, handle)
    this._pages.push(page)
    const viewport = this._options.viewport ?? { width: 1280, height: 720 }
    await page._setViewport(viewport)
    // As in a new Playwright page, the pointer starts at (0, 0), not where a
    // page that had this window before left it.
    await page.mouse.move(0, 0)
    return page
  }

  pages() {
    return [...this._pages]
  }

  /** Ends the driver, the browser and its profile at once (their whole process group). */
  async close() {
    if (this._closed) return
    this._closed = true
    if (this._driver) kill(this._driver)
    this._browser._contexts.delete(this)
  }
}

// The page side of evaluate(): run the function, buffer events, report both.
const PAGE_HOOKS = `
if (!window.__wdEvents) {
  window.__wdEvents = []
  const push = (e) => window.__wdEvents.length < 1000 && window.__wdEvents.push(e)
  addEventListener('error', (e) => push({ type: 'pageerror', message: String(e.message), stack: e.error && e.error.stack }))
  addEventListener('unhandledrejection', (e) =>
    push({ type: 'pageerror', message: String(e.reason && e.reason.message || e.reason), stack: e.reason && e.reason.stack }))
  for (const level of ['error', 'warn', 'info', 'log', 'debug']) {
    const original = console[level]
    console[level] = function (...args) {
      push({ type: 'console', level, text: args.map((a) => { try { return typeof a === 'string' ? a : String(a) } catch { return '?' } }).join(' ') })
      return original.apply(this, args)
    }
  }
}`

/** In-page selector engine: CSS plus Playwright's `text=…` and `:has-text("…")`. */
const FIND = `
const __find = (sel) => {
  let m = /^text=(.*)$/.exec(sel)
  if (m) {
    const t = m[1].replace(/^"(.*)"$/, '$1')
    return [...document.querySelectorAll('body *')].filter((e) =>
      e.textContent.includes(t) && ![...e.children].some((c) => c.textContent.includes(t)))
  }
  m = /^(.*):has-text\\("(.*)"\\)$/.exec(sel)
  if (m) return [...document.querySelectorAll(m[1])].filter((e) => e.textContent.includes(m[2]))
  return [...document.querySelectorAll(sel)]
}
const __visible = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'`

const source = (fn) => (typeof fn === 'function' ? fn.toString() : `() => (${fn})`)
// JSON has no `undefined`: mark it, so that `evaluate(fn, [a, undefined])` gets
// a real undefined (and a default parameter) in the page, as in Playwright.
const UNDEF = '__wdUndefined'
const encode = (v) =>
  v === undefined ? { [UNDEF]: 1 } : Array.isArray(v) ? v.map(encode)
    : v && typeof v === 'object' && v.constructor === Object ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]))
    : v
const DECODE = `const __decode = (v) => v && typeof v === 'object' ? (v.${UNDEF} === 1 ? undefined
  : Array.isArray(v) ? v.map(__decode) : v.constructor === Object ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, __decode(x)])) : v) : v`

class Page {
  constructor(context, handle) {
    Object.assign(this, { _context: context, _handle: handle, _listeners: {}, _initScripts: [], _timeout: 30_000 })
    this.mouse = new Mouse(this)
  }
  context() {
    return this._context
  }
  setDefaultTimeout(ms) {
    this._timeout = ms
  }
  on(event, fn) {
    ;(this._listeners[event] ??= []).push(fn)
  }
  _cmd(fn) {
    return this._context._serial(this._handle, fn)
  }

  async _setViewport({ width, height }) {
    // Size the window so that the viewport (inside the browser's own bars) is as asked.
    await this._cmd((cmd) => cmd('POST', '/window/rect', { width, height }))
    const inner = await this.evaluate(() => [innerWidth, innerHeight])
    if (inner[0] !== width || inner[1] !== height) {
      await this._cmd((cmd) => cmd('POST', '/window/rect', { width: 2 * width - inner[0], height: 2 * height - inner[1] }))
    }
  }

  async _afterLoad() {
    await this._script(PAGE_HOOKS, [])
    for (const s of this._initScripts) await this._script(`;(${source(s.fn)})(__decode(arguments[0]))`, [encode(s.arg)])
  }

  async goto(url) {
    await this._cmd((cmd) => cmd('POST', '/url', { url }))
    await this._afterLoad()
  }
  async reload() {
    await this._cmd((cmd) => cmd('POST', '/refresh', {}))
    await this._afterLoad()
  }
  /** The page's location as of the last command (Playwright's url() is synchronous too). */
  url() {
    return this._href ?? 'about:blank'
  }
  async addInitScript(fn, arg) {
    this._initScripts.push({ fn, arg })
  }
  async bringToFront() {
    await this._cmd(async () => {})
  }
  async close() {
    if (this._closed) return
    this._closed = true
    const ctx = this._context
    ctx._pages = ctx._pages.filter((p) => p !== this)
    if (ctx._pages.length === 0) {
      // The context lives on without pages, as in Playwright (its profile,
      // storage included, is there for the next page), but WebDriver ends a
      // session with its last window: keep that window, blank, for the next page.
      await this._cmd((cmd) => cmd('POST', '/url', { url: 'about:blank' }))
      ctx._firstWindow = this._handle
      return
    }
    await this._cmd(async (cmd) => {
      // WebDriver's commands need an open current window: move to another.
      const [next] = await cmd('DELETE', '/window')
      ctx._current = null
      if (next !== undefined) {
        await cmd('POST', '/window', { handle: next })
        ctx._current = next
      }
    })
  }

  /** Runs `body` (a function body, with `arguments` as given) to completion; async aware. */
  async _script(body, args) {
    const script = `const __done = arguments[arguments.length - 1]
${FIND}
${DECODE}
const __events = () => (window.__wdEvents ? window.__wdEvents.splice(0) : [])
let __p
try { __p = Promise.resolve((async function () { ${body} }).apply(null, Array.prototype.slice.call(arguments, 0, -1))) }
catch (e) { __p = Promise.reject(e) }
__p.then(
  (v) => __done({ ok: true, undef: v === undefined, v: v === undefined ? null : v, events: __events(), href: location.href }),
  (e) => __done({ ok: false, message: String(e && e.message || e), stack: String(e && e.stack || ''), events: __events(), href: location.href }),
)`
    const r = await this._cmd((cmd) => cmd('POST', '/execute/async', { script, args }))
    for (const e of r.events ?? []) this._emit(e)
    this._href = r.href
    if (!r.ok) {
      const err = new Error(`page.evaluate: ${r.message}${r.stack ? `\n    in the page: ${r.stack}` : ''}`)
      throw err
    }
    return r.undef ? undefined : r.v
  }

  _emit(e) {
    if (e.type === 'pageerror') {
      const err = new Error(e.message)
      if (e.stack) err.stack = e.stack
      for (const fn of this._listeners.pageerror ?? []) fn(err)
    } else {
      const msg = { type: () => e.level, text: () => e.text }
      for (const fn of this._listeners.console ?? []) fn(msg)
    }
  }

  evaluate(fn, arg) {
    return this._script(`return (${source(fn)})(__decode(arguments[0]))`, [encode(arg)])
  }

  async waitForFunction(fn, arg, options = {}) {
    const timeout = options.timeout ?? this._timeout
    const end = Date.now() + timeout
    for (;;) {
      const v = await this.evaluate(fn, arg)
      if (v) return v
      if (Date.now() > end) throw new Error(`page.waitForFunction: timed out after ${timeout} ms: ${source(fn)}`)
      await sleep(50)
    }
  }

  /** Elements matching `selector`, as WebDriver element references. */
  async _elements(selector) {
    return this._script('return __find(arguments[0])', [selector])
  }
  async _element(selector) {
    const end = Date.now() + this._timeout
    for (;;) {
      const [el] = await this._script('return __find(arguments[0]).filter(__visible)', [selector])
      if (el) return el[ELEMENT]
      if (Date.now() > end) throw new Error(`no visible element for ${selector} within ${this._timeout} ms`)
      await sleep(50)
    }
  }

  async waitForSelector(selector, options = {}) {
    const timeout = options.timeout ?? this._timeout
    const visible = (options.state ?? 'visible') === 'visible'
    const end = Date.now() + timeout
    for (;;) {
      const found = await this._script(`const all = __find(arguments[0]); return arguments[1] ? all.filter(__visible) : all`, [selector, visible])
      if (found.length > 0) return new ElementHandle(this, found[0][ELEMENT])
      if (Date.now() > end) throw new Error(`page.waitForSelector: timed out after ${timeout} ms waiting for ${selector}`)
      await sleep(50)
    }
  }

  locator(selector) {
    return new Locator(this, selector)
  }
  click(selector) {
    return this.locator(selector).click()
  }
  hover(selector) {
    return this.locator(selector).hover()
  }
  $$eval(selector, fn, arg) {
    return this._script(`return (${source(fn)})(__find(arguments[0]), __decode(arguments[1]))`, [selector, encode(arg)])
  }
}

class ElementHandle {
  constructor(page, id) {
    Object.assign(this, { _page: page, _id: id })
  }
  getAttribute(name) {
    return this._page._script('return arguments[0].getAttribute(arguments[1])', [{ [ELEMENT]: this._id }, name])
  }
}

class Locator {
  constructor(page, selector) {
    Object.assign(this, { _page: page, _selector: selector })
  }
  count() {
    return this._page._script('return __find(arguments[0]).length', [this._selector])
  }
  async _first() {
    return this._page._element(this._selector)
  }
  async _run(body, ...args) {
    const id = await this._first()
    return this._page._script(body, [{ [ELEMENT]: id }, ...args])
  }
  innerText() {
    return this._run('return arguments[0].innerText')
  }
  getAttribute(name) {
    return this._run('return arguments[0].getAttribute(arguments[1])', name)
  }
  boundingBox() {
    return this._run(`const r = arguments[0].getBoundingClientRect()
return { x: r.x, y: r.y, width: r.width, height: r.height }`)
  }
  async click() {
    const id = await this._first()
    await this._page._cmd((cmd) => cmd('POST', `/element/${id}/click`, {}))
  }
  async hover() {
    const id = await this._first()
    await this._page.mouse._actions([{ type: 'pointerMove', duration: 0, x: 0, y: 0, origin: { [ELEMENT]: id } }])
  }
  async screenshot({ path }) {
    const id = await this._first()
    const png = await this._page._cmd((cmd) => cmd('GET', `/element/${id}/screenshot`))
    if (path) writeFileSync(path, Buffer.from(png, 'base64'))
  }
}

/** The pointer, through WebDriver's actions: real pointer events in the page. */
class Mouse {
  constructor(page) {
    this._page = page
  }
  _actions(actions) {
    return this._page._cmd((cmd) =>
      cmd('POST', '/actions', { actions: [{ type: 'pointer', id: 'mouse', parameters: { pointerType: 'mouse' }, actions }] }),
    )
  }
  move(x, y) {
    return this._actions([{ type: 'pointerMove', duration: 0, x: Math.round(x), y: Math.round(y), origin: 'viewport' }])
  }
  down() {
    return this._actions([{ type: 'pointerDown', button: 0 }])
  }
  up() {
    return this._actions([{ type: 'pointerUp', button: 0 }])
  }
}
