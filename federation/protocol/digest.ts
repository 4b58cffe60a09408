/**
 * Index digest shared by both sides: per UTC day of start time, the count and a short hash of
 * every segment [start,end,bytes] and gap [start,end,reason]. Edge and central compute it the
 * same way over the same cut-offs; a differing day is re-sent whole (digest repair).
 */
import { createHash } from "node:crypto";

export const DAY_MS = 86_400_000;

export type DayDigest = [dayStartMs: number, count: number, hash: string];

export function dayDigests(segments: readonly (readonly [number, number, number])[], gaps: readonly (readonly [number, number, string])[]): DayDigest[] {
  const days = new Map<number, string[]>();
  const add = (start: number, line: string) => {
    const d = Math.floor(start / DAY_MS) * DAY_MS;
    let l = days.get(d);
    if (!l) days.set(d, (l = []));
    l.push(line);
  };
  for (const [s, e, b] of segments) add(s, `s${s},${e},${b}`);
  for (const [s, e, r] of gaps) add(s, `g${s},${e},${r}`);
  return [...days.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([d, lines]) => [d, lines.length, createHash("sha256").update(lines.sort().join("\n")).digest("hex").slice(0, 16)]);
}
