import { createRoot } from 'react-dom/client'
import { App } from './app.jsx'
import './styles.css'

// No <StrictMode>: its double effects would double the plain-fetch counts.
createRoot(document.getElementById('root')).render(<App />)
