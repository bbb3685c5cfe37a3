// The Pages Router pattern: getServerSideProps prefetches with a
// request-scoped client and passes its dehydrated state as a prop.
import { useState } from 'react'
import { createClient } from 'calmfetch'
import { CalmfetchProvider } from 'calmfetch/react'
import Profile from '../app/profile'

export async function getServerSideProps({ req }) {
  const client = createClient({
    baseUrl: process.env.API_ORIGIN ?? `http://${req.headers.host}`,
    headers: { cookie: req.headers.cookie ?? '' },
    cache: { ttlMs: 60_000 },
  })
  const ok = await client.prefetch('/api/me')
  return { props: { ok, state: client.dehydrate() } }
}

export default function Legacy({ ok, state }) {
  const [client] = useState(() => createClient({ cache: { ttlMs: 60_000 } }))
  if (typeof window !== 'undefined') window.__calmfetch = client
  return (
    <CalmfetchProvider client={client} state={state}>
      <p id="prefetched">{String(ok)}</p>
      <Profile />
    </CalmfetchProvider>
  )
}
