// WebSocket push channel at /ws, served by calmfetch/server's socketHandler
// (docs/socket-protocol.md) on the HTTP server's upgrade. Clients subscribe to
// keys (API GET paths); the server sends the current body right away and again
// every time the key is bumped.
//
// This file adds what only the reference server has: the /ws path check, the
// handshake delay and flap knobs, the socket counters, and the test hooks
// that drop every socket or send raw text to them.

import { socketHandler } from '../../js/server/index.js';
import { parseUrl } from './routes.mjs';

/** Close codes used by the server. */
export const CLOSE_DROPPED = 1012; // POST /__socket/drop ("service restart")
export const CLOSE_FLAP = 1001; // socketFlapMs knob ("going away")

const pathOf = (key) => {
  try {
    return parseUrl(key).pathname;
  } catch {
    return null;
  }
};

export function createSocketHub(state, routes) {
  /** Open connections (the library's) -> their flap timer. */
  const open = new Map();
  /** Raw sockets whose handshake is being delayed by socketDelayMs. */
  const pending = new Map(); // socket -> timer
  const socketStats = () => state.stats.socket;

  function syncSubscriptions() {
    const s = socketStats();
    s.subscriptions = live.subscriptions;
    if (s.subscriptions > s.peakSubscriptions) s.peakSubscriptions = s.subscriptions;
  }

  const live = socketHandler({
    // Every key is public except /api/user, whose body is the connection's
    // own user (the upgrade request's Authorization): nothing to refuse.
    authorize: () => true,
    load(key, req) {
      const snap = routes.snapshot(key, { authorization: req.headers.authorization });
      if (snap.ok) return snap.body;
      throw Object.assign(new Error(snap.message), { expose: true });
    },
    origins: '*', // the test pages come from other origins; auth is by header, not cookie
    maxPayload: 64 * 1024,
    onOpen(conn) {
      const s = socketStats();
      s.connections++;
      const flapMs = state.knobs.socketFlapMs;
      open.set(conn, flapMs > 0 ? setTimeout(() => conn.ws.close(CLOSE_FLAP, 'flap'), flapMs) : null);
      s.open = open.size;
    },
    onClose(conn) {
      clearTimeout(open.get(conn));
      open.delete(conn);
      socketStats().open = open.size;
      syncSubscriptions();
    },
    onMessage(msg) {
      const s = socketStats();
      s.messagesIn++;
      if (msg?.type === 'subscribe') s.subscribeMessages++;
      syncSubscriptions();
    },
    onSend() {
      socketStats().messagesOut++;
      syncSubscriptions();
    },
  });

  /** HTTP 'upgrade' handler. */
  function handleUpgrade(req, socket, head) {
    if (pathOf(req.url) !== '/ws' || state.signal.aborted) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => {});
    const complete = () => {
      pending.delete(socket);
      if (socket.destroyed || state.signal.aborted) return;
      live.upgrade(req, socket, head);
    };
    const delay = state.knobs.socketDelayMs;
    if (delay > 0) {
      pending.set(socket, setTimeout(complete, delay));
      socket.once('close', () => {
        clearTimeout(pending.get(socket));
        pending.delete(socket);
      });
    } else {
      complete();
    }
  }

  /** Push fresh data to every subscription whose key has this pathname. */
  function notify(path) {
    live.refresh((key) => pathOf(key) === path).catch((err) => console.error('[calmfetch server] push failed:', err));
  }

  /** Close every open socket with code 1012; returns how many. */
  function dropAll() {
    for (const conn of open.keys()) conn.ws.close(CLOSE_DROPPED, 'dropped by server');
    return open.size;
  }

  /** Send `text` as is to every open socket (tests: malformed messages); returns how many. */
  function sendRaw(text) {
    for (const conn of open.keys()) {
      conn.ws.send(text);
      socketStats().messagesOut++;
    }
    return open.size;
  }

  /** Terminate everything (server shutdown). */
  function close() {
    for (const [socket, timer] of pending) {
      clearTimeout(timer);
      socket.destroy();
    }
    pending.clear();
    for (const timer of open.values()) clearTimeout(timer);
    live.close();
  }

  const gauges = () => ({ openSockets: live.connections, subscriptions: live.subscriptions });

  return { handleUpgrade, notify, dropAll, sendRaw, close, gauges };
}
