// Fails when the package (every JS file a user's bundle gets, the wasm
// inlined) is over its gzip budget. The budget is a ratchet: lower
// `gzipBytes` in size-budget.json whenever the code shrinks; never raise it
// without saying why in the commit.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const budget = JSON.parse(readFileSync(join(root, 'size-budget.json'), 'utf8'))
const size = JSON.parse(readFileSync(join(process.env.CALMFETCH_PKG ?? join(root, 'pkg'), 'size.json'), 'utf8'))
const kb = (n) => `${(n / 1024).toFixed(1)} KB`
const line = `package ${kb(size.gzip)} gzip; budget ${kb(budget.gzipBytes)}; target ${kb(budget.targetBytes)}, goal ${kb(budget.goalBytes)}`
if (size.gzip > budget.gzipBytes) {
  console.error(`size budget exceeded: ${line}`)
  process.exit(1)
}
console.log(`size budget ok: ${line}${size.gzip > budget.targetBytes ? ' (still over the target)' : ''}`)
