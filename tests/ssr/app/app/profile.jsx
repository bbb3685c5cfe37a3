'use client'
import { useRequest } from 'calmfetch/react'

export default function Profile() {
  const { data, status } = useRequest('/api/me')
  return (
    <section id="profile" data-status={status}>
      {data === undefined ? 'loading' : `${data.user}: ${data.secret}`}
    </section>
  )
}
