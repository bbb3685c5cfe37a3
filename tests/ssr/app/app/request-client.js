// The request-scoped client of a server component: this request's cookie,
// forwarded explicitly; made per request, never kept in a module.
import { headers } from 'next/headers'
import { createClient } from 'calmfetch'

export async function requestClient() {
  const h = await headers()
  return createClient({
    baseUrl: process.env.API_ORIGIN ?? `http://${h.get('host')}`,
    headers: { cookie: h.get('cookie') ?? '' },
    cache: { ttlMs: 60_000 },
  })
}
