// Install the built package the way a user would: `npm pack` of pkg/ into a
// fresh copy of an app template under tests/.out, then `npm install`.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The workspace's exact-pinned dev dependencies (the versions the apps install). */
export const dev = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies

/**
 * Copy `template` to tests/.out/`name`, pack the package into it and
 * install it with `dependencies` (names of the workspace's devDependencies).
 * Returns the app's directory and the seconds `npm install` took.
 */
export function installPacked(template, name, dependencies) {
  const app = join(root, 'tests', '.out', name)
  rmSync(app, { recursive: true, force: true })
  mkdirSync(app, { recursive: true })
  cpSync(template, app, { recursive: true })
  const pkgDir = process.env.CALMFETCH_PKG ?? join(root, 'pkg')
  execFileSync('npm', ['pack', pkgDir, '--pack-destination', app, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const tarball = readdirSync(app).find((f) => f.endsWith('.tgz'))
  const deps = { calmfetch: `file:./${tarball}` }
  for (const d of dependencies) deps[d] = dev[d]
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: `${name}-check`, private: true, type: 'module', dependencies: deps }, null, 2))
  const t0 = performance.now()
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] })
  return { app, installSeconds: (performance.now() - t0) / 1000 }
}
