// A second page, reached by client-side navigation: its state goes to the
// client the layout made when the tab opened.
import { Hydrate } from '../providers'
import Profile from '../profile'
import { requestClient } from '../request-client'

export const dynamic = 'force-dynamic'

export default async function Other() {
  const client = await requestClient()
  await client.prefetch('/api/me?page=other')
  return (
    <Hydrate state={client.dehydrate()}>
      <Profile url="/api/me?page=other" id="other" />
    </Hydrate>
  )
}
