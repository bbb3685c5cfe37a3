// A server component: a request-scoped client prefetches, and the page hands
// its dehydrated state to `Hydrate`, a client component, which gives it to
// the layout's client.
import Link from 'next/link'
import { Hydrate } from './providers'
import Profile from './profile'
import { requestClient } from './request-client'

export const dynamic = 'force-dynamic'

export default async function Page() {
  const client = await requestClient()
  const ok = await client.prefetch('/api/me')
  return (
    <Hydrate state={client.dehydrate()}>
      <p id="prefetched">{String(ok)}</p>
      <Profile />
      <Link id="to-other" href="/other" prefetch={false}>other</Link>
    </Hydrate>
  )
}
