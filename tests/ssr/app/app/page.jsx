// A server component: a request-scoped client (this request's cookie,
// forwarded explicitly) prefetches, and the page hands its dehydrated state
// to the provider, a client component.
import { headers } from 'next/headers'
import { createClient } from 'calmfetch'
import Providers from './providers'
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
    <Providers state={client.dehydrate()}>
      <p id="prefetched">{String(ok)}</p>
      <Profile />
    </Providers>
  )
}
