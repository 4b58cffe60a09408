/**
 * Start-path timestamps, for bench/edge-start.bench.ts: with OUTPOST_START_TRACE=1 in the
 * environment, the first time each named phase is reached it is written to stderr as one line
 * `{"startTrace":"PHASE","at":EPOCH_MS}` (wall clock, so the bench can subtract its spawn time).
 * The first occurrence only: with several cameras, the phases of whichever gets there first.
 * Off (the default) a call is one boolean test: the marks stay in the code, the profile stays
 * reproducible.
 */
const on = process.env.OUTPOST_START_TRACE === "1";
const seen = new Set<string>();

export function startMark(phase: string): void {
  if (!on || seen.has(phase)) return;
  if (seen.size === 0) write("runtime start", performance.timeOrigin);
  seen.add(phase);
  write(phase, performance.timeOrigin + performance.now());
}

function write(phase: string, at: number): void {
  process.stderr.write(`${JSON.stringify({ startTrace: phase, at: Math.round(at * 10) / 10 })}\n`);
}
