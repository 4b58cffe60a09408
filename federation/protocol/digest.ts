/**
 * Index digest shared by both sides: per UTC day of start time, the count and a short hash of
 * every segment [start,end,bytes] and gap [start,end,reason]. Edge and central compute it the
 * same way over the same cut-offs; a differing day is re-sent whole (digest repair).
 */
import { createHash } from "node:crypto";

export const DAY_MS = 86_400_000;

export type DayDigest = [dayStartMs: number, count: number, hash: string];

/**
 * Lines are made and hashed one day at a time (a day's lines sorted, joined by "\n"): the edge
 * digests each stream's whole history every few minutes, and 30 days of one-minute segments as
 * 43,200 line strings alive at once were a heap peak its allocator then kept (issue 13).
 */
export function dayDigests(segments: readonly (readonly [number, number, number])[], gaps: readonly (readonly [number, number, string])[]): DayDigest[] {
  const days = new Map<number, { segs: number[]; gaps: number[] }>();
  const dayOf = (start: number) => {
    const d = Math.floor(start / DAY_MS) * DAY_MS;
    let e = days.get(d);
    if (!e) days.set(d, (e = { segs: [], gaps: [] }));
    return e;
  };
  segments.forEach(([s], i) => dayOf(s).segs.push(i));
  gaps.forEach(([s], i) => dayOf(s).gaps.push(i));
  return [...days.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([d, { segs, gaps: gs }]): DayDigest => {
      const lines = [...segs.map((i) => `s${segments[i]![0]},${segments[i]![1]},${segments[i]![2]}`), ...gs.map((i) => `g${gaps[i]![0]},${gaps[i]![1]},${gaps[i]![2]}`)].sort();
      return [d, lines.length, createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 16)];
    });
}
