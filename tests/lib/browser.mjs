// Shared by the node-driven browser tests: launch Debian's Chromium headless
// with the flags this closed, root-run machine needs, or the browser that
// BROWSER names (launchBrowser).
import { chromium } from 'playwright-core'

export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  })
}

/** A tiny test runner: `check(name, fn)` then `report()` prints `N passed, M failed`. */
export function runner() {
  let passed = 0
  let failed = 0
  return {
    async check(name, fn) {
      try {
        await fn()
        passed++
        console.log(`ok   ${name}`)
      } catch (e) {
        failed++
        console.log(`FAIL ${name}\n     ${e?.stack ?? e}`)
      }
    },
    report() {
      console.log(`${passed} passed, ${failed} failed`)
      return failed === 0
    },
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(message)
}

/**
 * Serve `page` (an HTML file) as `/` with the built package at `/pkg/`, from
 * the reference server on 127.0.0.1. Returns the started server.
 */
export async function servePage(page, name) {
  const { cpSync, mkdirSync, rmSync } = await import('node:fs')
  const { dirname, join } = await import('node:path')
  const { fileURLToPath } = await import('node:url')
  const { startServer } = await import('../../www/server/server.mjs')
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
  const site = join(root, 'tests', '.out', name)
  rmSync(site, { recursive: true, force: true })
  mkdirSync(site, { recursive: true })
  cpSync(page, join(site, 'index.html'))
  cpSync(process.env.CALMFETCH_PKG ?? join(root, 'pkg'), join(site, 'pkg'), { recursive: true })
  return startServer({ port: 0, staticDir: site })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Requests the server counted with `tag`. */
export async function countTag(server, tag) {
  return (await (await fetch(`${server.url}/test/count?tag=${tag}`)).json()).count
}

/** The browser the suites run in: BROWSER=chromium (the default), firefox or webkit. */
export const BROWSER = process.env.BROWSER ?? 'chromium'

/**
 * Launch BROWSER. Chromium through Playwright; Firefox ESR and WebKitGTK
 * through WebDriver, behind the same subset of Playwright's API
 * (tests/lib/webdriver.mjs).
 */
export async function launchBrowser(extraArgs = []) {
  if (BROWSER === 'chromium') return launchChromium(extraArgs)
  const { launchWebDriver } = await import('./webdriver.mjs')
  return launchWebDriver(BROWSER)
}
