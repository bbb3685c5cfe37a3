// A streamed `/batch` answer (NDJSON, `batch.stream: true`): its lines are
// fed to the core as they arrive. A module of its own, which a client loads
// when the first NDJSON answer comes (client.js).
import { isObject, messageOf } from './errors.js'

/** One NDJSON line: an answer object, or a string that says why not. */
export function line(text, last) {
  let why = 'not an object'
  try {
    const v = JSON.parse(text)
    if (isObject(v)) return v
  } catch (e) {
    why = messageOf(e)
  }
  return last ? `the NDJSON answer ended mid-line (${why})` : `an NDJSON line is not the expected JSON (${why})`
}

/** Splits a stream of text into lines; `push` returns the complete ones. */
export class Lines {
  rest = ''
  push(chunk) {
    const all = (this.rest + chunk).split('\n')
    this.rest = all.pop()
    return all.filter((l) => l.trim() !== '')
  }
}

/**
 * Read the NDJSON answer `res` line by line while `alive()`: `call(f)` runs
 * `f` as an event of the client, `item(answer)` feeds one answer, `end(why)`
 * ends the batch (complete when `why` is undefined, else broken). Resolves
 * with a failure of the whole batch (`[status, why]`), if any.
 */
export async function read(res, alive, call, item, end) {
  if (res.body === null) return [0, 'the NDJSON answer has no body']
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  const lines = new Lines()
  const cancel = () => void reader.cancel().catch(() => {})
  for (;;) {
    let chunk
    try {
      chunk = await reader.read()
    } catch (e) {
      return [0, `the answer stream broke: ${messageOf(e)}`]
    }
    if (!alive()) return cancel()
    if (chunk.done) {
      const rest = lines.rest + decoder.decode()
      call(() => {
        if (rest.trim() !== '') {
          const a = line(rest, true)
          if (typeof a === 'string') return end(a)
          item(a)
        }
        end()
      })
      return
    }
    let broken = false
    call(() => {
      for (const l of lines.push(decoder.decode(chunk.value, { stream: true }))) {
        const a = line(l, false)
        if (typeof a === 'string') {
          broken = true
          return end(a)
        }
        item(a)
      }
    })
    if (broken) return cancel()
  }
}
