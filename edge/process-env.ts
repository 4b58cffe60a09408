/**
 * Environment the edge recorder's process starts with. These are read by the runtime once, at
 * process start (not settable from JavaScript later), so every launcher of an edge applies
 * them: the firmware's boot supervisor (firmware/boot.ts), `bin/outpost edge` (the same value,
 * in shell), and the ingest bench (which measures what ships). A value already in the
 * environment wins, so an operator can override it.
 *
 * MIMALLOC_PURGE_DELAY=30000, MIMALLOC_PURGE_HOLES_MIN_INTERVAL=10000: Bun's allocator
 * (mimalloc) returns freed pages to the kernel (madvise MADV_DONTNEED from its "mi-scavenger"
 * thread) 100 ms after they are freed, and looks for free "holes" in partly used pages to return
 * at most every 100 ms. A recorder frees and re-allocates its media garbage on the cycle of the
 * JavaScript heap's full collections (~30 s), so with the defaults nearly every purge was
 * followed by page faults, and each madvise in a multi-threaded process costs TLB-shootdown
 * interrupts on every core: keeping every freed page (-1, shipped until 2026-12-06) cut the
 * edge's CPU by 37–47 % at 4–16 streams of 2 Mbit/s. But then the pages freed after a full
 * collection stay resident for good: ~20–25 MB at 4 × 2 Mbit/s. Returning what is unused for 30 s,
 * and looking for holes every 10 s, gives most of it back (−16…−22 MB resident at 4 × 2 Mbit/s,
 * four runs) for +4…+10 % CPU; a 1–10 s delay or the 100 ms hole interval cost +20…+50 %
 * (BENCHMARKS.md, docs/design/memory.md). An operator who needs the last bit of CPU sets -1.
 *
 * BUN_GC_TIMER_INTERVAL=5000: besides JavaScriptCore's own collections (paced by how much is
 * allocated), Bun runs a young-generation collection every second while the heap grows. A
 * recorder's heap always grows a little (fragments, status objects), so that timer alone ran
 * ~1 collection per second at any camera count, each a 1–2 ms pause plus the collector's
 * helper threads — a large share of the cost of one recorded stream (the idle edge's fixed
 * cost). Every 5 s instead: measured side by side at one 2 Mbit/s stream, 13 % less CPU, RSS
 * unchanged (JavaScriptCore still collects by allocation volume; the timer only adds
 * collections for a heap that grows slowly).
 */
export const EDGE_PROCESS_ENV: Readonly<Record<string, string>> = { MIMALLOC_PURGE_DELAY: "30000", MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "10000", BUN_GC_TIMER_INTERVAL: "5000" };

/** `env` with the edge's process settings added where it does not set them itself. */
export function withEdgeProcessEnv(env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  return { ...EDGE_PROCESS_ENV, ...env };
}
