/**
 * WebSocket fMP4 viewer protocol (server side; see lib/live/PROTOCOL.md):
 *   1. text   {"type":"stream","mime","width","height","codec","initVersion"}
 *   2. binary init segment (ftyp+moov)
 *   3. binary fragments (moof+mdat…), each starting a fragment; from the latest keyframe
 *   later text messages: {"type":"cut","resumeAtMs"} (viewer was too slow; skipped ahead to a
 *   keyframe — seek to resumeAtMs/1000), {"type":"stream",…} + binary init (format change),
 *   {"type":"end","reason"} before the server closes.
 * The client sends nothing (anything it sends is ignored).
 */
import type { WSContext, WSEvents } from "hono/ws";
import type { LiveHub, ViewerSink } from "./hub.ts";

interface BunSocketLike {
  send(data: string | Uint8Array, compress?: boolean): number;
  getBufferedAmount?(): number;
  close(code?: number, reason?: string): void;
  readyState: number;
}

/** A ViewerSink over Bun's ServerWebSocket (what hono/bun hands out as ws.raw). */
export function bunSocketSink(ws: WSContext, onBytes?: (n: number) => void): ViewerSink {
  const raw = ws.raw as BunSocketLike;
  return {
    sendText: (t) => {
      if (raw.readyState === 1) raw.send(t);
    },
    sendBinary: (b) => {
      if (raw.readyState !== 1) return;
      raw.send(b);
      onBytes?.(b.length);
    },
    buffered: () => raw.getBufferedAmount?.() ?? 0,
    close: (code, reason) => {
      try {
        raw.close(code, reason);
      } catch {
        // already closed
      }
    },
  };
}

export interface LiveSocketOptions {
  /** Resolves the hub once the socket is open (may start an uplink); throw → close 1011. */
  acquire: () => LiveHub | Promise<LiveHub>;
  /** Called once when the viewer leaves (release uplink demand). */
  release?: () => void;
  onBytes?: (n: number) => void;
  /** Once the viewer is attached: `end` sends {"type":"end",reason} and closes (1008), e.g. when its login ends. */
  onOpen?: (end: (reason: string) => void) => void;
}

/** hono `upgradeWebSocket` events for one live viewer. */
export function liveSocketEvents(o: LiveSocketOptions): WSEvents {
  let remove: (() => void) | undefined;
  let released = false;
  const release = () => {
    remove?.();
    remove = undefined;
    if (!released) {
      released = true;
      o.release?.();
    }
  };
  return {
    async onOpen(_e, ws) {
      try {
        const hub = await o.acquire();
        if (released) return;
        remove = hub.addViewer(bunSocketSink(ws, o.onBytes)).remove;
        o.onOpen?.((reason) => {
          release();
          try {
            ws.send(JSON.stringify({ type: "end", reason }));
            ws.close(1008, reason.slice(0, 120));
          } catch {
            // already closed
          }
        });
      } catch (err) {
        ws.send(JSON.stringify({ type: "end", reason: (err as Error).message }));
        ws.close(1011, "live stream unavailable");
        release();
      }
    },
    onClose() {
      release();
    },
    onError() {
      release();
    },
  };
}
