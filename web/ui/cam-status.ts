/**
 * A camera's dot in the tree: its tone and the words behind it, from the streams' states the
 * recorder reports (edge/ingest/stream.ts: connecting, recording, stalled, failed, backoff,
 * stopped). A camera that is down is red with the reason, not amber "online" — the site being
 * reachable says nothing about the camera.
 */
import type { Camera } from "../model.ts";

export type CamTone = "ok" | "warn" | "bad" | "dim";

const UP = new Set(["recording", "ok", "live"]);
const TRYING = new Set(["stalled", "reconnecting", "starting", "connecting"]);
const DOWN = new Set(["backoff", "failed"]);

export function camStatus(c: Pick<Camera, "online" | "streams">): { tone: CamTone; label: string } {
  const st = c.streams.map((s) => s.status);
  if (!c.online && !st.length) return { tone: "dim", label: "offline" };
  const label = st.length ? c.streams.map((s) => `${s.kind}: ${s.status}${s.reason && !UP.has(s.status) ? ` (${s.reason})` : ""}`).join(", ") : c.online ? "online" : "offline";
  if (st.some((s) => UP.has(s))) return { tone: "ok", label };
  if (st.some((s) => TRYING.has(s))) return { tone: "warn", label };
  if (st.some((s) => DOWN.has(s))) return { tone: "bad", label };
  return { tone: c.online ? "warn" : "bad", label };
}
