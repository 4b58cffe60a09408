/**
 * Server-sent event streams shared by every tab of this browser. Browsers open at most six
 * HTTP/1.1 connections to one server, and an EventSource holds one for as long as it is open;
 * central and the edge serve HTTP/1.1 (Bun.serve has no HTTP/2), so with two streams per tab
 * a fourth tab never loaded. Here one tab per stream and user, the holder of a Web Lock, keeps
 * the EventSource and re-broadcasts each event on a BroadcastChannel; the other tabs only
 * listen there. When the holder closes or stops listening, the lock passes to a waiting tab,
 * which opens the stream anew. Events sent during the hand-over are not replayed (as on any
 * reconnect); the server's "ready" event on each new connection reaches every tab, which then
 * reloads what it shows.
 * Without Web Locks (plain HTTP on a non-loopback address is not a secure context) every tab
 * opens its own EventSource, as before.
 */

type Handler = (type: string, data: string) => void;

interface Shared {
  handlers: Set<Handler>;
  close: () => void;
}

const streams = new Map<string, Shared>();

/**
 * Listen to the event `types` of the stream at `url` as `user` (tabs of different users never
 * share a stream). Returns the unsubscribe function.
 */
export function subscribeEvents(url: string, user: string, types: readonly string[], fn: Handler): () => void {
  const key = `outpost-sse ${user} ${url}`;
  let s = streams.get(key);
  if (!s) {
    s = open(key, url, types);
    streams.set(key, s);
  }
  const shared = s;
  shared.handlers.add(fn);
  return () => {
    shared.handlers.delete(fn);
    if (shared.handlers.size === 0 && streams.get(key) === shared) {
      streams.delete(key);
      shared.close();
    }
  };
}

function open(key: string, url: string, types: readonly string[]): Shared {
  const handlers = new Set<Handler>();
  const emit = (type: string, data: string) => {
    for (const h of [...handlers]) h(type, data);
  };
  const connect = (onEvent: Handler) => {
    const es = new EventSource(url);
    for (const t of types) es.addEventListener(t, (ev) => onEvent(t, (ev as MessageEvent).data as string));
    return es;
  };
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks || typeof BroadcastChannel === "undefined") {
    const es = connect(emit);
    return { handlers, close: () => es.close() };
  }
  const channel = new BroadcastChannel(key);
  channel.onmessage = (m: MessageEvent<{ type: string; data: string }>) => emit(m.data.type, m.data.data);
  const abort = new AbortController();
  let release: (() => void) | undefined;
  locks
    .request(key, { signal: abort.signal }, () => {
      // This tab holds the stream until close(); a BroadcastChannel never echoes to its sender.
      const es = connect((type, data) => {
        emit(type, data);
        channel.postMessage({ type, data });
      });
      return new Promise<void>((resolve) => {
        release = () => {
          es.close();
          resolve();
        };
      });
    })
    .catch(() => undefined); // AbortError: closed while waiting for the lock
  return {
    handlers,
    close: () => {
      abort.abort();
      release?.();
      channel.close();
    },
  };
}
