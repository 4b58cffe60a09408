/**
 * A node's internal listener: other central nodes relay live streams from here. mTLS, and only
 * a client certificate that central's CA issued to a central node (SAN urn:outpost:node:<id>)
 * gets past the handshake — edges' and central's MQTT client certificates come from the same
 * CA but carry no node URI, so their connections are dropped before any HTTP is read.
 *
 *   GET /internal/v1/live/:site/:camera/:stream   lib/live/wire.ts frames (init, fragments, pings)
 *
 * A relay is served only while this node holds the stream's edge uplink (409 otherwise, so
 * relays never chain or loop); it is one more viewer of the stream's hub, with the hub's
 * cut-forward for a relay that falls behind, and holds the stream wanted here until it ends.
 */
import { Hono } from "hono";
import type { HttpBindings } from "@hono/node-server";
import type { TLSSocket } from "node:tls";
import { encodeFrame, type ViewerSink } from "../../../lib/live/index.ts";
import { HttpProblem, onNotFound, onProblem } from "../../../lib/http/problem.ts";
import { nodeIdOfCert, parseCert } from "../../../federation/pki.ts";
import type { Logger } from "../../../lib/log/index.ts";
import { listenTls } from "../../listener.ts";
import type { CentralLive } from "../live.ts";
import { RELAY_ROUTE } from "./client.ts";
import type { NodeTls } from "./identity.ts";

export interface RelayListenerOptions {
  live: CentralLive;
  tls: NodeTls;
  host: string;
  port: number;
  minVersion: "TLSv1.2" | "TLSv1.3";
  log: Logger;
  /** Ping when no fragment went out for this long (the receiver's stall watchdog); default 1 s. */
  pingMs?: number;
}

export interface RelayListener {
  port: number;
  /** Relays being served now. */
  serving(): number;
  close(): Promise<void>;
}

/** The node id of a socket's verified client certificate, or null for anything that is not a central node. */
export function peerNode(socket: TLSSocket): string | null {
  const raw = socket.getPeerCertificate(false)?.raw;
  if (!raw || raw.length === 0 || !socket.authorized) return null;
  try {
    return nodeIdOfCert(parseCert(new Uint8Array(raw)));
  } catch {
    return null;
  }
}

export async function startRelayListener(o: RelayListenerOptions): Promise<RelayListener> {
  const log = o.log;
  const nodes = new WeakMap<TLSSocket, string>();
  const open = new Set<() => void>();
  let relayIds = 0;
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.onError(onProblem(log));
  app.notFound(onNotFound);
  app.get(RELAY_ROUTE, (c) => {
    const from = nodes.get(c.env.incoming.socket as TLSSocket);
    if (!from) throw new HttpProblem(401, "Not a central node", "Only central nodes may relay live streams.");
    const siteId = c.req.param("site");
    const cameraId = c.req.param("camera");
    const stream = c.req.param("stream");
    if (stream !== "main" && stream !== "sub") throw new HttpProblem(400, "Bad request", "stream must be main or sub");
    if (!o.live.hasUplink(siteId, cameraId, stream)) throw new HttpProblem(409, "No uplink here", `This node holds no uplink of ${siteId}.${cameraId}/${stream}.`);
    const release = o.live.hold(siteId, cameraId, stream, `relay:${from}:${++relayIds}`);
    const hub = o.live.hub(siteId, cameraId, stream);
    let viewer: { remove(): void } | undefined;
    let ping: ReturnType<typeof setInterval> | undefined;
    let finish = () => {};
    const body = new ReadableStream<Uint8Array>(
      {
        start(ctl) {
          let next: { init: true } | { init: false; capturedAtMs: number } | undefined;
          let sentAt = Date.now();
          const write = (b: Uint8Array) => {
            sentAt = Date.now();
            ctl.enqueue(b);
          };
          finish = () => {
            open.delete(finish);
            clearInterval(ping);
            viewer?.remove();
            release();
            try {
              ctl.close();
            } catch {
              // already closed or cancelled
            }
          };
          open.add(finish);
          // The hub's viewer protocol (lib/live/PROTOCOL.md) re-framed as uplink frames.
          const sink: ViewerSink = {
            sendText(text) {
              const m = JSON.parse(text) as { type: string; capturedAtMs?: number };
              if (m.type === "stream") next = { init: true };
              else if (m.type === "time") next = { init: false, capturedAtMs: m.capturedAtMs ?? Date.now() };
            },
            sendBinary(bytes) {
              if (!next) return;
              write(encodeFrame(next.init ? { type: 1, bytes } : { type: 2, capturedAtMs: next.capturedAtMs, bytes }));
              next = undefined;
            },
            buffered: () => Math.max(0, -(ctl.desiredSize ?? 0)),
            close: () => finish(),
          };
          viewer = hub.addViewer(sink);
          ping = setInterval(() => {
            // The uplink left this node (ended or moved): end the relay so the receiver looks again.
            if (!o.live.hasUplink(siteId, cameraId, stream)) return finish();
            if (Date.now() - sentAt >= (o.pingMs ?? 1000)) write(encodeFrame({ type: 3 }));
          }, o.pingMs ?? 1000);
        },
        cancel() {
          finish();
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
    );
    log.info("live relay serving", { to: from, key: `${siteId}.${cameraId}/${stream}` });
    return new Response(body, { headers: { "content-type": "application/octet-stream", "cache-control": "no-store" } });
  });
  const listener = await listenTls({
    host: o.host,
    port: o.port,
    key: o.tls.keyPem,
    cert: o.tls.certPem,
    clientCa: o.tls.caPem,
    minVersion: o.minVersion,
    fetch: app.fetch,
    onSecure: (socket) => {
      const node = peerNode(socket);
      if (!node) {
        log.warn("internal connection refused: not a central node's certificate", { remote: socket.remoteAddress });
        return false;
      }
      nodes.set(socket, node);
      return true;
    },
  });
  return {
    port: listener.port,
    serving: () => open.size,
    async close() {
      for (const f of [...open]) f();
      await listener.close();
    },
  };
}
