/**
 * Environment the edge recorder's process starts with. These are read by the runtime once, at
 * process start (not settable from JavaScript later), so every launcher of an edge applies
 * them: the firmware's boot supervisor (firmware/boot.ts), `bin/outpost edge` (the same value,
 * in shell), and the ingest bench (which measures what ships). A value already in the
 * environment wins, so an operator can override it.
 *
 * MIMALLOC_PURGE_DELAY=-1: Bun's allocator (mimalloc) returns freed pages to the kernel
 * (madvise MADV_DONTNEED from its "mi-scavenger" thread) 100 ms after they are freed. A
 * recorder frees ~0.5 MB per stream per second (fragments, NAL units) and allocates as much
 * again at once, so each purge is followed by page faults, and each madvise in a multi-threaded
 * process costs TLB-shootdown interrupts on every core. Measured side by side (same camera,
 * same window): madvise calls −91 %, edge CPU −37…−47 % at 4–16 streams of 2 Mbit/s, kernel
 * time −60…−72 %. The price is memory: freed pages are kept for reuse, not returned, so RSS
 * is higher (+3 % at 4 streams, +58 % at 8 in one run). An operator who needs the memory back
 * sets a purge delay in ms instead.
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
export const EDGE_PROCESS_ENV: Readonly<Record<string, string>> = { MIMALLOC_PURGE_DELAY: "-1", BUN_GC_TIMER_INTERVAL: "5000" };

/** `env` with the edge's process settings added where it does not set them itself. */
export function withEdgeProcessEnv(env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  return { ...EDGE_PROCESS_ENV, ...env };
}
