/**
 * Measured goodput of a link: bytes moved over the last few seconds, divided by the time bytes
 * were actually flowing. Idle stretches (no work, a long poll waiting, an outage) do not count,
 * so the first read after a quiet minute does not drag the estimate to nothing — a per-read
 * moving average did, and central showed a 20 s retrieval with an ETA of 313 s. Central uses it
 * for retrieval ETAs and overwrite-deadline walks (bytes received per site), the edge for its
 * transfer queue view (bytes sent); with no measurement yet the answer is null, never a cap.
 */
export class Goodput {
  private samples: { at: number; n: number }[] = [];

  constructor(
    private readonly windowMs = 10_000,
    /** A pause between reads longer than this counts as idle (only this much of it is "sending"). */
    private readonly idleMs = 1000,
  ) {}

  add(at: number, n: number): void {
    this.samples.push({ at, n });
    this.prune(at);
  }

  /** Bytes per second while data was flowing, or null when too little was seen to tell. */
  bytesPerSecond(now: number): number | null {
    this.prune(now);
    const s = this.samples;
    if (s.length < 2) return null;
    let active = 0;
    let bytes = 0;
    // The first sample's bytes arrived over an unknown time before it: it only opens the window.
    for (let i = 1; i < s.length; i++) {
      active += Math.min(s[i]!.at - s[i - 1]!.at, this.idleMs);
      bytes += s[i]!.n;
    }
    return active >= 200 ? (bytes * 1000) / active : null;
  }

  private prune(now: number): void {
    let i = 0;
    while (i < this.samples.length && this.samples[i]!.at < now - this.windowMs) i++;
    if (i) this.samples.splice(0, i);
  }
}
