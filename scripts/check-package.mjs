// Checks the built package (pkg/) the way a registry user meets it:
//   - publint (strict: its suggestions fail too) over package.json and the
//     files it names: every entry of `exports`, `files`, module formats;
//   - arethetypeswrong over `npm pack`'s tarball: each entry point's types
//     resolve, and agree with the JS, under node10, node16 and bundlers.
//     `cjs-resolves-to-esm` is left out on purpose: the package is ESM only
//     (README, "Install": require() it from Node >= 20.19, or import());
//   - the metadata: the licenses of `license`, repository, homepage, bugs;
//   - pkg/README.md (npm's page) has no relative link left.
// Both tools read whatever `exports` lists: a new entry point is checked
// without a change here.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = process.env.CALMFETCH_PKG ?? join(root, 'pkg')
const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'))
const problems = []

const { messages } = await publint({ pkgDir: pkg, level: 'suggestion', strict: true })
for (const m of messages) problems.push(`publint ${m.type}: ${formatMessage(m, manifest) ?? m.code}`)
console.log(`publint: ${messages.length === 0 ? 'no message' : `${messages.length} messages`}`)

try {
  const out = execFileSync(join(root, 'node_modules', '.bin', 'attw'), ['--pack', pkg, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'table-flipped'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  })
  console.log(out.trim())
} catch (e) {
  problems.push(`attw:\n${e.stdout}${e.stderr}`)
}

const licenses = { 'MIT OR Apache-2.0': ['LICENSE-MIT', 'LICENSE-APACHE'] }[manifest.license]
if (licenses === undefined) problems.push(`no license files known for "${manifest.license}"`)
for (const f of licenses ?? []) {
  if (!existsSync(join(pkg, f)) || !manifest.files.includes(f)) problems.push(`${f} is not shipped`)
}
for (const field of ['repository', 'homepage', 'bugs']) if (manifest[field] === undefined) problems.push(`package.json has no ${field}`)

const readme = readFileSync(join(pkg, 'README.md'), 'utf8')
for (const m of readme.matchAll(/\]\(([^)\s]+)\)|(?:href|src)="([^"]+)"/g)) {
  const target = m[1] ?? m[2]
  if (!/^(?:[a-z][a-z0-9+.-]*:|#)/i.test(target)) problems.push(`pkg/README.md links to ${target}, which is not in the package`)
}

if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log('package checks ok: publint, attw, licenses, repository fields, README links')
