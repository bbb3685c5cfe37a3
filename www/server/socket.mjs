// WebSocket push channel at /ws (built on the `ws` package, sharing the HTTP
// server). Clients subscribe to keys (API GET paths); the server sends the
// current body right away and again every time the key is bumped.
//
//   client -> server  {"type":"subscribe","key":"/api/games/1"}
//                     {"type":"unsubscribe","key":"/api/games/1"}
//   server -> client  {"type":"data","key":"/api/games/1","body":{...}}
//                     {"type":"error","key":<key or null>,"message":"..."}

import { WebSocketServer } from 'ws';
import { parseUrl } from './routes.mjs';

/** Close codes used by the server. */
export const CLOSE_DROPPED = 1012; // POST /__socket/drop ("service restart")
export const CLOSE_FLAP = 1001; // socketFlapMs knob ("going away")

export function createSocketHub(state, routes) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  /** ws -> { keys: Set<string>, headers, flapTimer } */
  const clients = new Map();
  /** Raw sockets whose handshake is being delayed by socketDelayMs. */
  const pending = new Map(); // socket -> timer
  let subscriptions = 0;

  const socketStats = () => state.stats.socket;

  function setSubscriptions(n) {
    subscriptions = n;
    const s = socketStats();
    s.subscriptions = n;
    if (n > s.peakSubscriptions) s.peakSubscriptions = n;
  }

  function send(ws, message) {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(JSON.stringify(message));
    socketStats().messagesOut++;
  }

  function sendError(ws, key, message) {
    send(ws, { type: 'error', key: key ?? null, message });
  }

  function sendData(ws, client, key) {
    const snap = routes.snapshot(key, client.headers);
    if (snap.ok) send(ws, { type: 'data', key, body: snap.body });
    else sendError(ws, key, snap.message);
    return snap.ok;
  }

  function onMessage(ws, client, data, isBinary) {
    socketStats().messagesIn++;
    let msg;
    try {
      msg = JSON.parse(isBinary ? Buffer.from(data).toString('utf8') : data.toString());
    } catch {
      return sendError(ws, null, 'malformed message: not JSON');
    }
    if (msg === null || typeof msg !== 'object' || typeof msg.type !== 'string') {
      return sendError(ws, null, 'malformed message: missing "type"');
    }
    const key = msg.key;
    if (msg.type === 'subscribe') {
      socketStats().subscribeMessages++;
      if (typeof key !== 'string' || key === '') return sendError(ws, null, 'subscribe needs a string "key"');
      // Only remember keys that resolve; the first data message follows now.
      if (sendData(ws, client, key) && !client.keys.has(key)) {
        client.keys.add(key);
        setSubscriptions(subscriptions + 1);
      }
      return;
    }
    if (msg.type === 'unsubscribe') {
      if (typeof key !== 'string') return sendError(ws, null, 'unsubscribe needs a string "key"');
      if (client.keys.delete(key)) setSubscriptions(subscriptions - 1);
      return;
    }
    sendError(ws, typeof key === 'string' ? key : null, `unknown message type "${msg.type}"`);
  }

  function onConnection(ws, req) {
    const client = {
      keys: new Set(),
      // Auth of the upgrade request is used for per-user keys like /api/user.
      headers: { authorization: req.headers.authorization },
      flapTimer: null,
    };
    clients.set(ws, client);
    const s = socketStats();
    s.connections++;
    s.open = clients.size;

    const flapMs = state.knobs.socketFlapMs;
    if (flapMs > 0) client.flapTimer = setTimeout(() => ws.close(CLOSE_FLAP, 'flap'), flapMs);

    ws.on('message', (data, isBinary) => onMessage(ws, client, data, isBinary));
    ws.on('error', () => {}); // protocol errors end in 'close' anyway
    ws.on('close', () => {
      clearTimeout(client.flapTimer);
      if (!clients.delete(ws)) return;
      setSubscriptions(subscriptions - client.keys.size);
      socketStats().open = clients.size;
    });
  }

  /** HTTP 'upgrade' handler. */
  function handleUpgrade(req, socket, head) {
    let pathname;
    try {
      pathname = parseUrl(req.url).pathname;
    } catch {
      pathname = '';
    }
    if (pathname !== '/ws' || state.signal.aborted) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => {});
    const complete = () => {
      pending.delete(socket);
      if (socket.destroyed || state.signal.aborted) return;
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
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
    for (const [ws, client] of clients) {
      for (const key of client.keys) {
        let keyPath;
        try {
          keyPath = parseUrl(key).pathname;
        } catch {
          continue;
        }
        if (keyPath === path) sendData(ws, client, key);
      }
    }
  }

  /** Close every open socket with code 1012; returns how many. */
  function dropAll() {
    const n = clients.size;
    for (const ws of clients.keys()) ws.close(CLOSE_DROPPED, 'dropped by server');
    return n;
  }

  /** Send `text` as is to every open socket (tests: malformed messages); returns how many. */
  function sendRaw(text) {
    for (const ws of clients.keys()) {
      ws.send(text);
      socketStats().messagesOut++;
    }
    return clients.size;
  }

  /** Terminate everything (server shutdown). */
  function close() {
    for (const [socket, timer] of pending) {
      clearTimeout(timer);
      socket.destroy();
    }
    pending.clear();
    for (const [ws, client] of clients) {
      clearTimeout(client.flapTimer);
      ws.terminate();
    }
    wss.close();
  }

  const gauges = () => ({ openSockets: clients.size, subscriptions });

  return { handleUpgrade, notify, dropAll, sendRaw, close, gauges };
}
