/**
 * Composition of the ONVIF bridge from central's parts (used by central/compose.ts and tests):
 * credentials from central's users, cameras and merged holdings from the control plane's
 * mirror, streams from RTSP out, snapshots from central's store, alarms from ops.
 */
import type { Clock } from "../../lib/clock.ts";
import { systemClock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { snapshot, type SegmentSource } from "../../lib/playback/index.ts";
import type { AuditInput } from "../audit/index.ts";
import type { AlarmChange } from "../alarms/index.ts";
import type { Rights } from "../rights/index.ts";
import { startOnvifBridge, type OnvifBridge } from "./bridge.ts";
import { loadBridgeKey, OnvifCredentials, type OnvifUsers } from "./credentials.ts";
import { alarmEvent, edgeEvent } from "./index.ts";
import type { BridgeCamera, StreamKind } from "./profiles.ts";
import type { Holding } from "./recordings.ts";

export interface CentralOnvifDeps {
  dataDir: string;
  host: string;
  port: number;
  discoveryPort?: number;
  users: OnvifUsers;
  rights: Rights;
  alarms: { subscribe(fn: (c: AlarmChange) => void): () => void };
  audit?: (a: AuditInput) => void;
  cameras(): Promise<BridgeCamera[]>;
  /** The sites with cameras, without camera views (OnvifBridgeOptions.cameraSites). */
  cameraSites?(): Promise<string[]>;
  /** The control plane's merged timeline (central/sites Sites.timeline). */
  timeline(siteId: string, cameraId: string, stream: string, fromMs: number, toMs: number): Promise<{ ranges: { start: string; end: string; held: Holding["held"] }[] }>;
  /** RTSP out: stream and replay URIs point at its base (rtsps:// unless only plain RTSP runs). */
  rtsp: { baseUrl: string };
  store: SegmentSource;
  log: Logger;
  clock?: Clock;
}

export interface CentralOnvif extends OnvifBridge {
  credentials: OnvifCredentials;
  /** Feed the edges' events (createSites onSiteEvent). */
  onSiteEvent(e: { siteId: string; cameraId: string | null; eventId: string; kind: string; atMs: number; data?: Record<string, unknown> }): void;
}

export async function startCentralOnvif(d: CentralOnvifDeps): Promise<CentralOnvif> {
  const clock = d.clock ?? systemClock;
  const credentials = new OnvifCredentials(await loadBridgeKey(d.dataDir), d.users);
  const rtspBase = d.rtsp.baseUrl;
  const split = (id: string) => {
    const i = id.indexOf(".");
    return { siteId: id.slice(0, i), channel: id.slice(i + 1) };
  };
  const bridge = await startOnvifBridge({
    host: d.host,
    port: d.port,
    ...(d.discoveryPort !== undefined ? { discoveryPort: d.discoveryPort } : {}),
    credentials,
    rights: d.rights,
    cameras: d.cameras,
    ...(d.cameraSites ? { cameraSites: d.cameraSites } : {}),
    streamUri: (id, stream: StreamKind) => `${rtspBase}/${encodeURIComponent(id)}/${stream}`,
    replayUri: (id, stream: StreamKind) => `${rtspBase}/replay/${encodeURIComponent(id)}/${stream}`,
    holdings: async (id, stream, fromMs, toMs) => {
      const { siteId, channel } = split(id);
      const t = await d.timeline(siteId, channel, stream, fromMs, toMs);
      return t.ranges.map((r) => ({ startMs: Date.parse(r.start), endMs: Date.parse(r.end), held: r.held }));
    },
    snapshot: async (id) => {
      for (const s of ["sub", "main"] as const) {
        const shot = await snapshot(d.store, id, s, clock.now()).catch(() => undefined);
        if (shot) return shot.jpeg;
      }
      return undefined;
    },
    ...(d.audit ? { audit: d.audit } : {}),
    log: d.log,
    clock,
  });
  const off = d.alarms.subscribe((c) => {
    if (c.kind !== "created") return;
    const e = alarmEvent(c.alarm);
    if (e) bridge.publish(e);
  });
  return {
    ...bridge,
    credentials,
    onSiteEvent: (e) => {
      if (!e.kind.startsWith("outpost.")) bridge.publish(edgeEvent(e));
    },
    async close() {
      off();
      await bridge.close();
    },
  };
}
