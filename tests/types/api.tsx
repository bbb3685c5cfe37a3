// Compile-time checks of the published types (tsc -p tests/types). Each
// `@ts-expect-error` line must be an error: tsc fails if it compiles.
import { createClient, CalmfetchError, replaceEqualDeep, type DehydratedState, type Snapshot, type Stats } from 'calmfetch'
import { CalmfetchProvider, useLive, useMutation, usePoll, usePrefetch, useRequest, useSuspenseRequest, type MutationResult, type RequestResult } from 'calmfetch/react'
import type { MutateOptions } from 'calmfetch'

interface Game {
  id: number
  name: string
}

const client = createClient({
  baseUrl: 'https://api.example.test',
  cache: { ttlMs: 5000, maxEntries: 500 },
  timeoutMs: 8000,
  headers: { Authorization: 'Bearer t' },
  credentials: 'include',
  batch: { endpoint: '/batch', windowMs: 10, maxSize: 20, stream: true },
  socket: { url: 'wss://api.example.test/ws', connectTimeoutMs: 5000, reconnect: { minMs: 500, maxMs: 30000 } },
  prefetch: { intentMs: 65, concurrency: 4 },
  poll: { jitter: 0.2, maxBackoffMs: 30000 },
  persist: { name: 'app', maxEntries: 200 },
  circuit: { failures: 5, coolDownMs: 10000 },
  retry: 3,
  retryDelayMs: 500,
  fetch: (url, init) => fetch(url, init),
})

// Token refresh: a headers function (sync or async) with the partition it needs.
createClient({ partition: 'user-1', headers: async () => ({ Authorization: 'Bearer fresh' }) })
createClient({ partition: 'user-1', headers: () => new Headers({ Authorization: 'Bearer fresh' }) })
// @ts-expect-error a headers function needs a partition
createClient({ headers: () => ({ Authorization: 'Bearer fresh' }) })
// @ts-expect-error fetch must be a function
createClient({ fetch: 'fetch' })

async function reads(): Promise<void> {
  const text: string = await client.get('/README.md', { responseType: 'text', retry: 0 })
  void text
  // @ts-expect-error a text read is a string
  const notJson: Game = await client.get('/README.md', { responseType: 'text' })
  void notJson
  // @ts-expect-error not a response type
  await client.get('/x', { responseType: 'blob' })
  const retries: number = client.stats().retries
  const shared: Game = replaceEqualDeep({ id: 1, name: 'a' }, { id: 1, name: 'a' })
  void [retries, shared]
}
void reads

async function calls(signal: AbortSignal): Promise<void> {
  const game: Game = await client.get<Game>('/api/games/1', { signal, ttlMs: 1000, fresh: true })
  game.name.toUpperCase()
  // @ts-expect-error the data is a Game, not a string
  const wrong: string = await client.get<Game>('/api/games/1')
  void wrong
  const off: () => void = client.subscribe<Game>('/api/games/1', (s: Snapshot<Game>) => {
    const d: Game | undefined = s.data
    const e: CalmfetchError | undefined = s.error
    const stale: boolean = s.stale
    void [d, e, stale]
  })
  off()
  const handle = client.poll<Game>('/api/games/1', { intervalMs: 5000, onData: (g) => g.id.toFixed(), inBackground: false })
  handle.stop()
  // @ts-expect-error intervalMs is required
  client.poll('/api/x', {})
  const landed: Promise<boolean> = client.prefetch('/api/games/2')
  void landed
  // @ts-expect-error prefetch returns a Promise now
  const old: boolean = client.prefetch('/api/games/2')
  void old
  const state: DehydratedState = client.dehydrate()
  JSON.stringify(state.entries[0]?.data)
  client.hydrate(state)
  // @ts-expect-error not a dehydrated state
  client.hydrate({ entries: 'x' })
  const cleanup: () => void = client.prefetchOnHover(document.body, '/api/games/2')
  cleanup()
  const n: number = client.invalidate('/api/games')
  void n
  const s: Stats = client.stats()
  s.networkRequests.toFixed()
  // @ts-expect-error not a socket state
  const st: typeof s.socketState = 'broken'
  void st
  try {
    await client.get('/x')
  } catch (e) {
    if (e instanceof CalmfetchError) {
      const kind: 'http' | 'network' | 'timeout' | 'abort' | 'parse' | 'invalid' | 'batch' | 'socket' | 'circuit' | 'internal' = e.kind
      void kind
    }
  }
}
void calls

interface Counter {
  value: number
}

async function writes(signal: AbortSignal): Promise<void> {
  const saved: Game = await client.mutate<Game>('/api/games', { body: { name: 'x' }, signal, invalidates: '/api/games' })
  saved.id.toFixed()
  await client.mutate('/api/games/1', { method: 'DELETE' })
  await client.mutate('/api/files', { method: 'PUT', body: new FormData(), headers: { 'X-A': 'b' }, partition: 'p' })
  await client.mutate('/api/raw', { body: new Uint8Array(4) })
  const game: Game = { id: 1, name: 'n' }
  await client.mutate('/api/games/1', { method: 'PATCH', body: game, invalidates: ['/api/games', '/api/leaderboard'] })
  await client.mutate('/api/counter/add', {
    body: { by: 1 },
    optimistic: { url: '/api/counter', update: (c: Counter | undefined) => (c === undefined ? c : { value: c.value + 1 }) },
  })
  // @ts-expect-error GET is no write
  await client.mutate('/api/x', { method: 'GET' })
  // @ts-expect-error an optimistic update must be a function
  await client.mutate('/api/x', { optimistic: { update: 1 } })
  // @ts-expect-error invalidates takes urls
  await client.mutate('/api/x', { invalidates: 3 })
  const o: MutateOptions = { method: 'POST', body: 'text' }
  void o
  const set: Counter | undefined = client.setData<Counter>('/api/counter', (c) => (c === undefined ? { value: 0 } : { value: c.value + 1 }), { partition: 'p' })
  client.setData<Counter>('/api/counter', { value: 1 })
  // @ts-expect-error not a Counter
  client.setData<Counter>('/api/counter', { value: 'one' })
  void set
}
void writes

function Writer() {
  const add: MutationResult<Counter, { by: number }> = useMutation<Counter, { by: number }, Counter>('/api/counter/add', {
    invalidates: (b) => (b.by > 10 ? ['/api/counter', '/api/leaderboard'] : '/api/counter'),
    optimistic: { url: '/api/counter', update: (c, b) => (c === undefined ? c : { value: c.value + b.by }) },
    onSuccess: (data, body) => void [data.value, body.by],
    onError: (e) => void e.kind,
  })
  add.mutate({ by: 1 })
  // @ts-expect-error the body is required
  add.mutate()
  // @ts-expect-error not the body's type
  add.mutate({ by: 'one' })
  const p: Promise<Counter> = add.mutateAsync({ by: 2 })
  void p
  const status: 'idle' | 'pending' | 'success' | 'error' = add.status
  const value: number | undefined = add.data?.value
  const kind = add.error?.kind
  add.reset()
  const remove = useMutation((id: number | undefined) => `/api/games/${id}`, { method: 'DELETE' })
  remove.mutate()
  remove.mutate(3)
  return <p>{status} {value} {kind}</p>
}
void Writer

// @ts-expect-error unknown option
createClient({ cache: { ttl: 5 } })

function GamePage({ id }: { id: number | null }) {
  const game: RequestResult<Game> = useRequest<Game>(id === null ? null : `/api/games/${id}`, { ttlMs: 1000 })
  const name: string | undefined = game.data?.name
  const status: 'idle' | 'pending' | 'success' | 'error' = game.status
  // @ts-expect-error data may be undefined
  const sure: Game = game.data
  void sure
  const activity = usePoll<{ n: number }>('/api/activity', 5000, { inBackground: true })
  const live = useLive<Game>('/api/games/1')
  const names = useRequest<Game[], string[]>('/api/games', { select: (games) => games.map((g) => g.name), keepPreviousData: true })
  const firstName: string | undefined = names.data?.[0]
  const placeholder: boolean = names.isPlaceholder
  // @ts-expect-error the selected data is string[]
  const notGames: Game[] | undefined = names.data
  void [firstName, placeholder, notGames]
  const polled = useRequest<Game>('/api/games/1', { pollMs: 2000, refetchOnFocus: false, refetchOnReconnect: true, placeholderData: 'previous', retry: 1 })
  void polled.refetch().then((r: RequestResult<Game>) => r.error?.kind)
  // @ts-expect-error placeholderData takes 'previous' only
  useRequest('/x', { placeholderData: { id: 1 } })
  const link = usePrefetch('/api/games/2')
  return (
    <a href="/games/2" {...link}>
      {name} {status} {activity.data?.n} {live.data?.name} {String(game.isFetching)}
    </a>
  )
}

function Suspended() {
  const game = useSuspenseRequest<Game>('/api/games/1')
  const sure: Game = game.data
  return <span>{sure.name}</span>
}

export function App() {
  return (
    <CalmfetchProvider client={client} state={client.dehydrate()}>
      <GamePage id={1} />
      <Suspended />
    </CalmfetchProvider>
  )
}
