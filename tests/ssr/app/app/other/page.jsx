// A second page, reached by client-side navigation: its state goes to the
// client the layout made when the tab opened.
import { headers } from 'next/headers'
import { createClient } from 'calmfetch'
import { Hydrate } from '../providers'
import Profile from '../profile'

export const dynamic = 'force-dynamic'

export default async function Other() {
  const h = await headers()
  const client = createClient({
    baseUrl: process.env.API_ORIGIN ?? `http://${h.get('host')}`,
    headers: { cookie: h.get('cookie') ?? '' },
    cache: { ttlMs: 60_000 },
  })
  await client.prefetch('/api/me?page=other')
  return (
    <Hydrate state={client.dehydrate()}>
      <Profile url="/api/me?page=other" id="other" />
    </Hydrate>
  )
}
