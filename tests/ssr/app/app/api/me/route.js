// The backend: each user's data depends on their cookie; requests are
// counted per user (GET /api/count).
export const dynamic = 'force-dynamic'

export async function GET(request) {
  const user = /(?:^|;\s*)user=(\w+)/.exec(request.headers.get('cookie') ?? '')?.[1] ?? 'anonymous'
  const counts = (globalThis.__calmfetchCounts ??= {})
  counts[user] = (counts[user] ?? 0) + 1
  return Response.json({ user, secret: `private-${user}-${counts[user]}` })
}
