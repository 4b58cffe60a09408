/**
 * HLS VOD playlist for a plan: one media resource (the plan's fMP4 bytes) addressed by byte
 * ranges — EXT-X-MAP for each init, one media segment per run of fragments that starts at a
 * keyframe, EXT-X-DISCONTINUITY at gaps and init changes, EXT-X-PROGRAM-DATE-TIME on every
 * media segment so players can show wall time.
 */
import { iso } from "../clock.ts";
import { blockFragment, type PlaybackPlan } from "./plan.ts";

export interface HlsPart {
  offset: number;
  size: number;
  wallStartMs: number;
  durationMs: number;
  frames: number;
  discontinuity: boolean;
  /** Byte range of the init this part needs, when it differs from the previous part's. */
  map?: { offset: number; size: number };
}

/** Groups fragments into parts of at least `targetMs` (cut only at keyframes, gaps and init changes). */
export function hlsParts(plan: PlaybackPlan, targetMs = 4000): HlsPart[] {
  const parts: HlsPart[] = [];
  let cur: HlsPart | undefined;
  let pendingMap: { offset: number; size: number } | undefined;
  for (const blk of plan.blocks) {
    if (blk.kind === "init") {
      pendingMap = { offset: blk.offset, size: blk.size };
      continue;
    }
    for (let i = blk.first; i <= blk.last; i++) {
      const f = blockFragment(blk, i);
      const boundary = !cur || !!f.discontinuity || !!pendingMap || (f.keyframe && cur.durationMs >= targetMs);
      if (boundary) {
        cur = {
          offset: f.offset,
          size: 0,
          wallStartMs: f.wallStartMs,
          durationMs: 0,
          frames: 0,
          discontinuity: !!f.discontinuity,
          map: pendingMap,
        };
        pendingMap = undefined;
        parts.push(cur);
      }
      cur!.size += f.size;
      // Span to this fragment's end so a gap-free run's EXTINF values add up to its wall length.
      cur!.durationMs = f.wallStartMs + f.durationMs - cur!.wallStartMs;
      cur!.frames += f.frames;
    }
  }
  return parts;
}

/** `mediaUri` is the (relative) URL of the plan's fMP4 bytes; it must yield the same layout. */
export function hlsPlaylist(plan: PlaybackPlan, mediaUri: string, targetMs = 4000): string {
  const parts = hlsParts(plan, targetMs);
  const target = Math.max(1, ...parts.map((p) => Math.ceil(p.durationMs / 1000)));
  const uri = mediaUri.replace(/"/g, "%22");
  const out = ["#EXTM3U", "#EXT-X-VERSION:7", `#EXT-X-TARGETDURATION:${target}`, "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"];
  for (const p of parts) {
    if (p.discontinuity) out.push("#EXT-X-DISCONTINUITY");
    if (p.map) out.push(`#EXT-X-MAP:URI="${uri}",BYTERANGE="${p.map.size}@${p.map.offset}"`);
    out.push(`#EXT-X-PROGRAM-DATE-TIME:${iso(p.wallStartMs)}`);
    out.push(`#EXTINF:${(p.durationMs / 1000).toFixed(3)},`);
    out.push(`#EXT-X-BYTERANGE:${p.size}@${p.offset}`);
    out.push(uri);
  }
  out.push("#EXT-X-ENDLIST", "");
  return out.join("\n");
}
