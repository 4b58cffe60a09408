/**
 * Index digest shared by both sides: per UTC day of start time, the count and a short hash of
 * every segment [start,end,bytes] and gap [start,end,reason]. Edge and central compute it the
 * same way over the same cut-offs; a differing day is re-sent whole (digest repair).
 */
import { createHash } from "node:crypto";

export const DAY_MS = 86_400_000;

export type DayDigest = [dayStartMs: number, count: number, hash: string];

/**
 * One UTC day's segments for the digest: how many, and their lines (`s<start>,<end>,<bytes>`,
 * sorted, joined by "\n") or — enough for a day without gaps — the digest hash of those lines.
 */
export interface SegmentDay {
  day: number;
  count: number;
  lines?: string;
  hash?: string;
}

export function dayDigests(segments: readonly (readonly [number, number, number])[], gaps: readonly (readonly [number, number, string])[]): DayDigest[] {
  return digestDays(segmentDays(segments), gaps);
}

/**
 * The segments' lines by day, made one day at a time: the edge digests each stream's whole
 * history every few minutes, and 30 days of one-minute segments as 43,200 line strings alive at
 * once were a heap peak its allocator then kept (issue 13). The edge's index gives the same
 * from SQL (IndexDb.segmentDays), without the lines crossing into JavaScript one by one.
 */
export function segmentDays(segments: readonly (readonly [number, number, number])[]): SegmentDay[] {
  const days = new Map<number, number[]>();
  segments.forEach(([s], i) => {
    const d = Math.floor(s / DAY_MS) * DAY_MS;
    const list = days.get(d);
    if (list) list.push(i);
    else days.set(d, [i]);
  });
  return [...days.entries()].map(([day, idx]) => ({ day, count: idx.length, lines: idx.map((i) => `s${segments[i]![0]},${segments[i]![1]},${segments[i]![2]}`).sort().join("\n") }));
}

/** Day digests from the segments' day lines and the gaps: a day's gap lines ("g…") sort before its segment lines ("s…"). */
export function digestDays(days: readonly SegmentDay[], gaps: readonly (readonly [number, number, string])[]): DayDigest[] {
  const byDay = new Map<number, { count: number; seg?: SegmentDay; gapLines: string[] }>();
  const entry = (d: number) => {
    let e = byDay.get(d);
    if (!e) byDay.set(d, (e = { count: 0, gapLines: [] }));
    return e;
  };
  for (const s of days) {
    const e = entry(s.day);
    e.count += s.count;
    e.seg = s;
  }
  for (const [s, e, r] of gaps) {
    const g = entry(Math.floor(s / DAY_MS) * DAY_MS);
    g.gapLines.push(`g${s},${e},${r}`);
    g.count++;
  }
  return [...byDay.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([d, e]): DayDigest => {
      if (e.gapLines.length === 0 && e.seg?.hash !== undefined) return [d, e.count, e.seg.hash];
      if (e.seg && e.seg.lines === undefined) throw new Error("digestDays: a day with gaps needs its segment lines");
      const text = [...e.gapLines.sort(), ...(e.seg?.lines ? [e.seg.lines] : [])].join("\n");
      return [d, e.count, createHash("sha256").update(text).digest("hex").slice(0, 16)];
    });
}
