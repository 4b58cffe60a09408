/**
 * central/onvif/ — the Open Network Bridge: central's remote cameras as ONVIF devices for any
 * other VMS (Milestone, Genetec, Nx, …). One ONVIF device per site (a multi-channel encoder:
 * one video source and two profiles per camera) on its own HTTP listener, with Profile S
 * (device, media → RTSP out), Profile G (search, replay → RTSP out's replay path) and PullPoint
 * events (central alarms and edge events), authenticated against central's users and filtered
 * by their rights. SOAP, auth schemes and WS-Discovery come from lib/onvif. Design:
 * docs/design/onvif-bridge.md. Must not import edge/.
 */
import type { Alarm } from "../alarms/index.ts";
import type { BridgeEvent } from "./pullpoints.ts";

export { startOnvifBridge, type OnvifBridge, type OnvifBridgeOptions } from "./bridge.ts";
export { OnvifCredentials, loadBridgeKey, type OnvifUsers } from "./credentials.ts";
export { PullPoints, type BridgeEvent } from "./pullpoints.ts";
export type { BridgeCamera } from "./profiles.ts";
export type { Holding } from "./recordings.ts";

const channelOf = (cameraId: string | null, siteId: string | null) => (cameraId && siteId && cameraId.startsWith(`${siteId}.`) ? cameraId.slice(siteId.length + 1) : (cameraId ?? ""));

/** A newly raised central alarm as an ONVIF notification (tns1:Outpost/Alarm); undefined for site-less alarms. */
export function alarmEvent(a: Alarm): BridgeEvent | undefined {
  if (!a.siteId) return undefined;
  return {
    topic: "tns1:Outpost/Alarm",
    siteId: a.siteId,
    cameraId: a.cameraId,
    timeMs: Date.parse(a.eventTime),
    source: { Source: channelOf(a.cameraId, a.siteId) },
    data: { AlarmId: String(a.id), Priority: String(a.priority), Title: a.title, State: a.state },
  };
}

/** An edge event (central/sites SiteEvent) as an ONVIF notification: motion keeps its ONVIF topic. */
export function edgeEvent(e: { siteId: string; cameraId: string | null; eventId: string; kind: string; atMs: number; data?: Record<string, unknown> }): BridgeEvent {
  const source = { Source: channelOf(e.cameraId, e.siteId) };
  if (e.kind === "motion" || e.kind.endsWith(".motion")) {
    const state = e.data?.state ?? e.data?.active ?? true;
    return { topic: "tns1:VideoSource/MotionAlarm", siteId: e.siteId, cameraId: e.cameraId, timeMs: e.atMs, source, data: { State: String(state) } };
  }
  return { topic: "tns1:Outpost/Event", siteId: e.siteId, cameraId: e.cameraId, timeMs: e.atMs, source, data: { Type: e.kind, EventId: e.eventId } };
}
export { startCentralOnvif, type CentralOnvif, type CentralOnvifDeps } from "./wire.ts";
export { mountOnvifRoutes } from "./routes.ts";
