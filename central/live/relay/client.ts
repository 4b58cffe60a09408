/**
 * The receiving end of a node-to-node live relay: GET <node's internal URL>/internal/v1/live/
 * <site>/<camera>/<stream> over mTLS with this node's certificate; the server must present a
 * node certificate for the node id the registry named (not merely any certificate of
 * central's CA — an edge's would be one). The body is lib/live/wire.ts frames, as an edge's
 * uplink: init, fragments with their capture time, pings.
 */
import https from "node:https";
import type { IncomingMessage } from "node:http";
import { FrameReader } from "../../../lib/live/index.ts";
import { NODE_URI_PREFIX } from "../../../federation/pki.ts";
import type { NodeTls } from "./identity.ts";
import type { StreamKind } from "./uplinks.ts";

export const RELAY_ROUTE = "/internal/v1/live/:site/:camera/:stream";

export function relayPath(siteId: string, cameraId: string, stream: StreamKind): string {
  return `/internal/v1/live/${encodeURIComponent(siteId)}/${encodeURIComponent(cameraId)}/${stream}`;
}

export interface RelaySink {
  init(bytes: Uint8Array): void;
  fragment(bytes: Uint8Array, capturedAtMs: number): void;
  /** The relay is over; `connected`: it had been answered with a stream (else the node was not reachable or refused). */
  ended(reason: string, connected: boolean): void;
}

export interface OpenRelayOptions {
  nodeId: string;
  url: string;
  tls: NodeTls;
  siteId: string;
  cameraId: string;
  stream: StreamKind;
  sink: RelaySink;
  /** No bytes for this long → dead; default 6 s (the server pings every second). */
  stallMs?: number;
  /** Connect + answer within this long; default 5 s. */
  connectTimeoutMs?: number;
}

export function openRelay(o: OpenRelayOptions): { close(reason: string): void } {
  let done = false;
  let connected = false;
  let res: IncomingMessage | undefined;
  let last = Date.now();
  const stallMs = o.stallMs ?? 6000;
  const connectBy = Date.now() + (o.connectTimeoutMs ?? 5000);
  /** `local`: closed by this node (no longer needed here): the sink is not told. */
  const end = (reason: string, local = false) => {
    if (done) return;
    done = true;
    clearInterval(watchdog);
    req.destroy();
    res?.destroy();
    if (!local) o.sink.ended(reason, connected);
  };
  const req = https.request(new URL(relayPath(o.siteId, o.cameraId, o.stream), o.url), {
    method: "GET",
    ca: o.tls.caPem,
    cert: o.tls.certPem,
    key: o.tls.keyPem,
    agent: false,
    // The node the registry named, by its certificate's node URI (host names of nodes vary).
    checkServerIdentity: (_host, cert) => {
      const names = (cert.subjectaltname ?? "").split(/,\s*/);
      return names.includes(`URI:${NODE_URI_PREFIX}${o.nodeId}`) ? undefined : new Error(`the relay server is not central node ${o.nodeId}`);
    },
  });
  const watchdog = setInterval(() => {
    const now = Date.now();
    if (!connected && now > connectBy) end("no answer");
    else if (connected && now - last > stallMs) end("stalled");
  }, 500);
  req.on("error", (e) => end(`lost: ${e.message}`));
  req.on("response", (r) => {
    res = r;
    if (r.statusCode !== 200) {
      r.resume();
      return end(`refused: HTTP ${r.statusCode}`);
    }
    connected = true;
    last = Date.now();
    const frames = new FrameReader();
    r.on("data", (chunk: Buffer) => {
      last = Date.now();
      try {
        for (const f of frames.push(new Uint8Array(chunk))) {
          if (f.type === 1) o.sink.init(f.bytes);
          else if (f.type === 2) o.sink.fragment(f.bytes, f.capturedAtMs);
        }
      } catch (e) {
        end(`bad stream: ${(e as Error).message}`);
      }
    });
    r.on("end", () => end("closed by the node"));
    r.on("error", (e) => end(`lost: ${e.message}`));
  });
  req.end();
  return { close: (reason) => end(reason, true) };
}
