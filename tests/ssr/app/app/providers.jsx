'use client'
// One client per browser tab (and one per request while rendering on the
// server), made once in the root layout, never at module level on a server.
// `Hydrate` takes a page's dehydrated state into that client.
import { useState } from 'react'
import { createClient } from 'calmfetch'
import { CalmfetchProvider, useClient } from 'calmfetch/react'

export default function Providers({ children }) {
  const [client] = useState(() => createClient({ cache: { ttlMs: 60_000 } }))
  if (typeof window !== 'undefined') window.__calmfetch = client
  return <CalmfetchProvider client={client}>{children}</CalmfetchProvider>
}

export function Hydrate({ state, children }) {
  return (
    <CalmfetchProvider client={useClient()} state={state}>
      {children}
    </CalmfetchProvider>
  )
}
