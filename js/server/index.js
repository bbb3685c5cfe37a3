// calmfetch/server: the backend half of calmfetch for Node (docs/server.md).
// `batchHandler` answers `POST /batch` by replaying each item through the
// app's own request listener; `socketHandler` serves the socket protocol
// over `ws`. Never part of the browser bundles (a separate entry point).
export { batchHandler } from './batch.js'
export { socketHandler } from './socket.js'
export { batchItemOf } from './inject.js'
