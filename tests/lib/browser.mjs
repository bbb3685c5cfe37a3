// Shared by the node-driven browser tests: launch Debian's Chromium headless
// with the flags this closed, root-run machine needs.
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
