// A page as a new user writes it: npm install calmfetch, import, use.
import { createElement as h, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { createClient, CalmfetchError } from 'calmfetch'

const tag = new URLSearchParams(location.search).get('tag') ?? 'none'
const client = createClient({ cache: { ttlMs: 5000 } })
const url = `/test/echo?tag=${tag}&delay=100`

function Widget({ name }) {
  const [text, setText] = useState('loading')
  useEffect(() => {
    client.get(url).then((d) => setText(`${name}:${d.query.tag}`), (e) => setText(`${name}:error ${e.message}`))
  }, [name])
  return h('li', { className: 'widget' }, text)
}

async function checks() {
  let badOptions = null
  try {
    createClient({ cache: { ttl: 1 } })
  } catch (e) {
    badOptions = { isCalmfetchError: e instanceof CalmfetchError, kind: e.kind, message: e.message }
  }
  const httpError = await client.get(`/test/echo?tag=${tag}-err&status=404`).catch((e) => ({
    isCalmfetchError: e instanceof CalmfetchError,
    kind: e.kind,
    status: e.status,
  }))
  return { badOptions, httpError }
}

function App() {
  const names = ['header', 'sidebar', 'main', 'footer', 'chat']
  return h('ul', null, names.map((n) => h(Widget, { key: n, name: n })))
}

createRoot(document.getElementById('root')).render(h(App))
window.__checks = checks
window.__stats = () => client.stats()
