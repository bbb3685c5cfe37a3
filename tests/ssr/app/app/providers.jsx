'use client'
// One client per browser tab (and one per request while rendering on the
// server): made once in state, never at module level on a server.
import { useState } from 'react'
import { createClient } from 'calmfetch'
import { CalmfetchProvider } from 'calmfetch/react'

export default function Providers({ state, children }) {
  const [client] = useState(() => createClient({ cache: { ttlMs: 60_000 } }))
  if (typeof window !== 'undefined') window.__calmfetch = client
  return (
    <CalmfetchProvider client={client} state={state}>
      {children}
    </CalmfetchProvider>
  )
}
