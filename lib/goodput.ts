/**
 * Measured goodput of a link: bytes moved over the last few seconds, divided by the time bytes
 * were actually moving. Idle stretches (no work, a long poll waiting, an outage) do not count,
 * so the first read after a quiet minute does not drag the estimate to nothing — a per-read
 * moving average did, and central showed a 20 s retrieval with an ETA of 313 s. Central feeds
 * it every body read per site (retrieval ETAs, overwrite-deadline walks); the edge feeds it each
 * upload's bytes central acknowledged with the upload's own start (its queue view), because
 * bytes the edge hands to its socket first fill buffers and would read faster than the link.
 * With no measurement yet the answer is null, never a cap.
 */
export class Goodput {
  private samples: { from: number; at: number; n: number }[] = [];

  constructor(
    private readonly windowMs = 10_000,
    /** A pause between reads longer than this is idle: it does not count as time spent moving bytes. */
    private readonly idleMs = 1000,
  ) {}

  /**
   * `n` bytes arrived at `at`, moving since `from`. Default: since the previous sample if that
   * is at most idleMs back; after a longer pause the sample only opens a new stretch.
   */
  add(at: number, n: number, from?: number): void {
    const prev = this.samples[this.samples.length - 1];
    const f = from ?? (prev && at - prev.at <= this.idleMs ? prev.at : at);
    this.samples.push({ from: Math.min(f, at), at, n });
    this.prune(at);
  }

  /** Bytes per second while data was moving, or null when too little was seen to tell. */
  bytesPerSecond(now: number): number | null {
    this.prune(now);
    let active = 0;
    let bytes = 0;
    let end = -Infinity;
    // Overlapping samples (parallel uploads) count their time once: union of [from, at].
    for (const s of [...this.samples].sort((a, b) => a.from - b.from)) {
      // A sample without a duration (the first read after a pause) only opens the window.
      if (s.at <= s.from) continue;
      bytes += s.n;
      if (s.at > end) {
        active += s.at - Math.max(s.from, end);
        end = s.at;
      }
    }
    return active >= 200 ? (bytes * 1000) / active : null;
  }

  private prune(now: number): void {
    let i = 0;
    while (i < this.samples.length && this.samples[i]!.at < now - this.windowMs) i++;
    if (i) this.samples.splice(0, i);
  }
}
