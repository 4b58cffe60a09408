/**
 * The live-uplink contract between central and edge (both import it): the request central
 * sends to start/refresh/stop an uplink, the MQTT topic used when the control plane's command
 * path is not wired, and the federation HTTP path the edge POSTs the stream to.
 */
import { z } from "zod";
import { siteTopicRoot } from "../identity.ts";

export const LIVE_VERSION = 1;

export const LiveRequest = z.object({
  v: z.literal(LIVE_VERSION),
  action: z.enum(["start", "stop"]),
  cameraId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "invalid camera id"),
  stream: z.enum(["main", "sub"]),
  /** start: keep the uplink up this long unless refreshed (central refreshes at lease/3). */
  leaseMs: z.number().int().min(1000).max(600_000).default(30_000),
});
export type LiveRequest = z.infer<typeof LiveRequest>;

/** Central → edge live requests (standalone MQTT path; QoS 1, not retained). */
export const liveTopic = (siteId: string) => `${siteTopicRoot(siteId)}/down/live`;

/** Edge → central: POST, chunked body of lib/live/wire.ts frames (the media framing lives in lib/live: both sides and local viewers use it). */
export const livePath = (cameraId: string, stream: string) => `/federation/v1/live/${encodeURIComponent(cameraId)}/${stream}`;
export const LIVE_ROUTE = "/federation/v1/live/:cameraId/:stream";
