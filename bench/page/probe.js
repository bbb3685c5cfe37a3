// In-page measurements around a run: the JS heap's peak (performance.memory,
// exact with --enable-precise-memory-info, sampled every 200 ms, which costs
// every client's page a few ms of main thread a second) and long tasks
// (> 50 ms) seen by a PerformanceObserver. Main-thread busy time itself comes
// from the Chrome DevTools Protocol (Performance.getMetrics TaskDuration),
// read by run.mjs.
import { calmState } from './clients.js'

let state = null

export function probeStart() {
  if (typeof gc === 'function') gc()
  const heap = () => performance.memory?.usedJSHeapSize ?? 0
  const s = { base: heap(), peak: 0, longTasks: 0, longTaskMs: 0, timer: null, obs: null }
  s.peak = s.base
  s.timer = setInterval(() => {
    const h = heap()
    if (h > s.peak) s.peak = h
  }, 200)
  try {
    s.obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        s.longTasks++
        s.longTaskMs += e.duration
      }
    })
    s.obs.observe({ type: 'longtask' })
  } catch {}
  state = s
}

export function probeStop() {
  const s = state
  if (!s) return null
  state = null
  clearInterval(s.timer)
  s.obs?.disconnect()
  const end = performance.memory?.usedJSHeapSize ?? 0
  if (end > s.peak) s.peak = end
  return {
    heapBaseBytes: s.base,
    heapPeakDeltaBytes: s.peak - s.base,
    longTasks: s.longTasks,
    longTaskMs: s.longTaskMs,
    wasmMemoryBytes: wasmMemoryBytes(),
  }
}

/**
 * Bytes of calmfetch's wasm linear memory in this page (outside the JS heap;
 * it grows and never shrinks; one module instance serves every client of the
 * page), from `client.stats().memoryBytes` of the page's last calmfetch
 * client, or 0 before any calmfetch client exists or while the module loads.
 */
export function wasmMemoryBytes() {
  const c = calmState.client
  if (!c) return 0
  try {
    return c.stats().memoryBytes ?? 0
  } catch {
    return 0
  }
}
