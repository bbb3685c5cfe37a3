// Type check of calmfetch/server (node_modules/.bin/tsc -p tests/types/tsconfig.server.json):
// what docs/server.md shows compiles, and misuse does not.
import http from 'node:http'
import { batchHandler, batchItemOf, socketHandler, type BatchItem, type SocketHandler } from 'calmfetch/server'

const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
  const item = batchItemOf(req)
  const id: string | undefined = item?.id
  const outer: http.IncomingMessage | undefined = item?.batch
  res.end(JSON.stringify({ id, outer: outer?.url }))
}
const batch = batchHandler(listener, {
  maxItems: 50,
  maxBytes: 65536,
  maxDepth: 8,
  timeoutMs: 5000,
  concurrency: 4,
  forwardHeaders: ['X-Api-Key'],
  responseHeaders: ['X-Request-Id'],
  onItem: (item: BatchItem, req) => console.log(item.id, item.method, item.url, item.headers['if-none-match'], req.url),
})
const done: Promise<void> = batch(new http.IncomingMessage(null as never), new http.ServerResponse(null as never))
void done
batchHandler(listener)

const live: SocketHandler = socketHandler({
  authorize: async (req, key) => req.headers.cookie !== undefined && key.startsWith('/api/'),
  load: (key, req) => ({ key, user: req.headers.authorization }),
  origins: ['https://app.example'],
  maxSubscriptions: 50,
  pingMs: 0,
  onSend: (msg, conn) => console.log(msg.type, msg.key, conn.req.url, conn.keys.size),
})
const server = http.createServer(listener)
const detach: () => void = live.attach(server, { path: '/ws' })
server.on('upgrade', (req, socket, head) => live.upgrade(req, socket, head))
const sent: number = live.publish('/api/games/1', { players: 3 })
const pushed: Promise<number> = live.refresh((key) => key.startsWith('/api/games/'))
const counts: [number, number] = [live.connections, live.subscriptions]
live.close(1012, 'restart')
void [detach, sent, pushed, counts]

// @ts-expect-error authorize is required
socketHandler({ load: () => 1 })
// @ts-expect-error concurrency is a number
batchHandler(listener, { concurrency: '4' })
// @ts-expect-error origins is a list of strings, '*', 'same-origin' or a function
socketHandler({ authorize: () => true, origins: 5 })
// @ts-expect-error publish takes a key or a predicate
live.publish(5, {})
