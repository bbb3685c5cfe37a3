'use client'
import { useRequest } from 'calmfetch/react'

export default function Profile({ url = '/api/me', id = 'profile' }) {
  const { data, status } = useRequest(url)
  return (
    <section id={id} data-status={status}>
      {data === undefined ? 'loading' : `${data.user}: ${data.secret}`}
    </section>
  )
}
