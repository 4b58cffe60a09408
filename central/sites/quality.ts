/**
 * The quality central holds per range of a camera's main-stream timeline: "main" where it holds
 * the main stream, "sub" where it holds only the sub stream (a sub-then-main retrieval's first
 * half, or a sub-only retrieval). Playback and the web client's timeline show it.
 */
import { mergeRanges, type Range } from "./api.ts";

export type HeldQuality = { startMs: number; endMs: number; quality: "main" | "sub" };

export function qualityRanges(main: Range[], sub: Range[]): HeldQuality[] {
  const m = mergeRanges(main);
  const out: HeldQuality[] = m.map((r) => ({ ...r, quality: "main" as const }));
  for (const s of mergeRanges(sub)) {
    // s minus every main range
    let cur = s.startMs;
    for (const r of m) {
      if (r.endMs <= cur || r.startMs >= s.endMs) continue;
      if (r.startMs > cur) out.push({ startMs: cur, endMs: r.startMs, quality: "sub" });
      cur = Math.max(cur, r.endMs);
    }
    if (cur < s.endMs) out.push({ startMs: cur, endMs: s.endMs, quality: "sub" });
  }
  return out.sort((a, b) => a.startMs - b.startMs);
}
