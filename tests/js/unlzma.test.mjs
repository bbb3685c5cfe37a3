// js/unlzma.js against xz's own LZMA output, for inputs of many shapes and
// the encoder settings the build uses and others (node --test).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { unlzma } from '../../js/unlzma.js'

const lzma = (input, settings) =>
  execFileSync('xz', ['--format=lzma', `--lzma1=${settings}`, '--stdout'], { input, maxBuffer: 1 << 28 })

const inputs = {
  empty: Buffer.alloc(0),
  'one byte': Buffer.from([7]),
  'random 64 KB (incompressible)': randomBytes(65536),
  'one byte repeated 300 KB (long matches)': Buffer.alloc(300_000, 0x61),
  'text with repeats': Buffer.from('calmfetch dedups, caches and batches. '.repeat(2000) + 'end'),
  'mixed: random blocks repeated at distances': Buffer.concat(
    Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? randomBytes(1000 + i) : Buffer.from(`block ${i % 5} `.repeat(50)))),
  ),
  "this decoder's own source": readFileSync(new URL('../../js/unlzma.js', import.meta.url)),
}

for (const settings of ['preset=9e,pb=0', 'preset=0', 'preset=6,lc=0,lp=2,pb=2', 'preset=9,lc=4,lp=0,pb=4']) {
  for (const [name, input] of Object.entries(inputs)) {
    test(`${name}, ${settings}`, () => {
      const out = unlzma(lzma(input, settings), input.length)
      assert.equal(Buffer.compare(Buffer.from(out), input), 0)
    })
  }
}
