// A server component: a request-scoped client (this request's cookie,
// forwarded explicitly) prefetches, and the page hands its dehydrated state
// to `Hydrate`, a client component, which gives it to the layout's client.
import Link from 'next/link'
import { headers } from 'next/headers'
import { createClient } from 'calmfetch'
import { Hydrate } from './providers'
import Profile from './profile'

export const dynamic = 'force-dynamic'

export default async function Page() {
  const h = await headers()
  const client = createClient({
    baseUrl: process.env.API_ORIGIN ?? `http://${h.get('host')}`,
    headers: { cookie: h.get('cookie') ?? '' },
    cache: { ttlMs: 60_000 },
  })
  const ok = await client.prefetch('/api/me')
  return (
    <Hydrate state={client.dehydrate()}>
      <p id="prefetched">{String(ok)}</p>
      <Profile />
      <Link id="to-other" href="/other" prefetch={false}>other</Link>
    </Hydrate>
  )
}
