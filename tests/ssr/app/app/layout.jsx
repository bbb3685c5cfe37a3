import Providers from './providers'

export const metadata = { title: 'calmfetch SSR check' }

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <Providers>{children}</Providers>
      </body>
    </html>
  )
}
