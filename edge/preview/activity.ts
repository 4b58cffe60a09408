/**
 * Activity from pictures: how much of the scene changed between two decoded keyframes, and
 * per-second levels for a segment from keyframe differences and ONVIF motion intervals.
 */

/** Side of the square blocks the picture is compared in (pixels of the small luma picture). */
const BLOCK = 8;
/** Mean absolute luma difference above which a block counts as changed (encoder noise stays below). */
const BLOCK_THRESHOLD = 12;
/** Changed blocks up to this many are ignored (an on-screen clock's digits). */
const NOISE_BLOCKS = 2;

/**
 * Level 0–100: 4 × the percentage of changed blocks, capped (a person crossing a wide scene
 * changes a few percent of it), 0 up to NOISE_BLOCKS changed blocks.
 */
export function frameDifference(a: Uint8Array, b: Uint8Array, width: number, height: number): number {
  if (a.length < width * height || b.length < width * height) return 0;
  const bx = Math.floor(width / BLOCK);
  const by = Math.floor(height / BLOCK);
  let changed = 0;
  for (let j = 0; j < by; j++) {
    for (let i = 0; i < bx; i++) {
      let sum = 0;
      for (let y = j * BLOCK; y < (j + 1) * BLOCK; y++) {
        const row = y * width;
        for (let x = i * BLOCK; x < (i + 1) * BLOCK; x++) sum += Math.abs(a[row + x]! - b[row + x]!);
      }
      if (sum / (BLOCK * BLOCK) > BLOCK_THRESHOLD) changed++;
    }
  }
  if (changed <= NOISE_BLOCKS) return 0;
  return Math.min(100, Math.round((400 * changed) / (bx * by)));
}

/**
 * Per-second levels over [startMs, endMs): each keyframe difference applies to the seconds
 * between the two keyframes compared; every second inside an ONVIF motion interval is 100.
 */
export function secondLevels(
  startMs: number,
  endMs: number,
  diffs: { fromMs: number; toMs: number; level: number }[],
  motion: { fromMs: number; toMs: number }[],
): { startMs: number; levels: number[] } {
  const first = Math.floor(startMs / 1000) * 1000;
  const n = Math.max(1, Math.ceil(endMs / 1000) - first / 1000);
  const levels = new Array<number>(n).fill(0);
  const paint = (from: number, to: number, level: number) => {
    const a = Math.max(0, Math.floor((from - first) / 1000));
    const b = Math.min(n, Math.ceil((to - first) / 1000));
    for (let i = a; i < b; i++) levels[i] = Math.max(levels[i]!, level);
  };
  for (const d of diffs) if (d.level > 0) paint(d.fromMs, Math.max(d.toMs, d.fromMs + 1), d.level);
  for (const m of motion) paint(Math.max(m.fromMs, startMs), Math.min(m.toMs, endMs), 100);
  return { startMs: first, levels };
}

/** Motion intervals from motion start/end events (ascending); one still open at `toMs` ends there. */
export function motionIntervals(events: { atMs: number; active: boolean }[], fromMs: number, toMs: number): { fromMs: number; toMs: number }[] {
  const out: { fromMs: number; toMs: number }[] = [];
  let since: number | null = null;
  for (const e of [...events].sort((x, y) => x.atMs - y.atMs)) {
    if (e.atMs >= toMs) break;
    if (e.active && since === null) since = e.atMs;
    else if (!e.active && since !== null) {
      if (e.atMs > fromMs) out.push({ fromMs: Math.max(since, fromMs), toMs: e.atMs });
      since = null;
    }
  }
  if (since !== null) out.push({ fromMs: Math.max(since, fromMs), toMs });
  return out;
}
