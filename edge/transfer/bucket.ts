/**
 * Token bucket shared by every upload of the edge: transfers never exceed the link's cap
 * (bits/s from the link profile), with a small burst so a cap holds even over short windows.
 */
import type { Clock } from "../../lib/clock.ts";

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    /** bytes per second; null = unlimited */
    private rate: number | null,
    private readonly burst = 16 * 1024,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  setRate(bytesPerSecond: number | null): void {
    this.refill();
    this.rate = bytesPerSecond;
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.rate !== null) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  /** Resolves when `n` bytes may go (n may exceed the burst: it then waits for the deficit). */
  async take(n: number): Promise<void> {
    for (;;) {
      if (this.rate === null) return;
      this.refill();
      if (this.tokens >= Math.min(n, this.burst)) {
        this.tokens -= n;
        return;
      }
      const need = Math.min(n, this.burst) - this.tokens;
      await Bun.sleep(Math.max(1, Math.ceil((need * 1000) / this.rate)));
    }
  }
}
