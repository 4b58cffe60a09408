/**
 * Profile G views of a site device: one ONVIF recording per camera (token = the camera's id at
 * its site, like its video source), one video track per recorded stream. Earliest/latest come
 * from the merged holdings (edge + central), so a VMS sees everything it can ask to replay.
 */
import { xmlEscape, xsDateTime } from "../../lib/onvif/index.ts";
import type { BridgeCamera } from "./profiles.ts";

export interface Holding {
  startMs: number;
  endMs: number;
  held: "edge" | "central" | "both";
}

export interface RecordingView {
  camera: BridgeCamera;
  /** Holdings per recorded stream. */
  tracks: { stream: "main" | "sub"; ranges: Holding[] }[];
}

export function span(v: RecordingView): { from?: number; to?: number } {
  const all = v.tracks.flatMap((t) => t.ranges);
  if (!all.length) return {};
  return { from: Math.min(...all.map((r) => r.startMs)), to: Math.max(...all.map((r) => r.endMs)) };
}

export function recordingInformationXml(v: RecordingView, tag: string, nowMs: number): string {
  const c = v.camera;
  const s = span(v);
  const at = (ms: number | undefined) => (ms === undefined ? "" : xsDateTime(ms));
  const recordingNow = v.tracks.some((t) => t.ranges.some((r) => nowMs - r.endMs < 30_000));
  return (
    `<${tag}><tt:RecordingToken>${xmlEscape(c.channel)}</tt:RecordingToken>` +
    `<tt:Source><tt:SourceId>${xmlEscape(c.id)}</tt:SourceId><tt:Name>${xmlEscape(c.name)}</tt:Name><tt:Location>${xmlEscape(c.siteId)}</tt:Location>` +
    `<tt:Description>Outpost camera ${xmlEscape(c.id)}</tt:Description><tt:Address>${xmlEscape(c.id)}</tt:Address></tt:Source>` +
    (s.from !== undefined ? `<tt:EarliestRecording>${at(s.from)}</tt:EarliestRecording><tt:LatestRecording>${at(s.to)}</tt:LatestRecording>` : "") +
    `<tt:Content>${xmlEscape(c.name)}</tt:Content>` +
    v.tracks
      .map((t) => {
        const f = t.ranges.length ? Math.min(...t.ranges.map((r) => r.startMs)) : undefined;
        const e = t.ranges.length ? Math.max(...t.ranges.map((r) => r.endMs)) : undefined;
        const held = [...new Set(t.ranges.map((r) => r.held))].join(",") || "none";
        return (
          `<tt:Track><tt:TrackToken>${t.stream === "main" ? "VIDEO001" : "VIDEO002"}</tt:TrackToken><tt:TrackType>Video</tt:TrackType>` +
          `<tt:Description>${t.stream} stream (held: ${held})</tt:Description>` +
          (f !== undefined ? `<tt:DataFrom>${at(f)}</tt:DataFrom><tt:DataTo>${at(e)}</tt:DataTo>` : "") +
          `</tt:Track>`
        );
      })
      .join("") +
    `<tt:RecordingStatus>${recordingNow ? "Recording" : "Stopped"}</tt:RecordingStatus></${tag}>`
  );
}
