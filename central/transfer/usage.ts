/**
 * Bytes central received per site and link per UTC day (tr_usage_daily): the history the link
 * budget chart draws, and summed by month what the budget view compares with the edge's own
 * count (tr_usage holds the per-month counts of older versions and is still added in).
 * Counted in memory as uploads arrive and added to the shared rows on flush (the engine's tick
 * and stop; counters.ts), so a restart keeps everything flushed before it and several central
 * nodes add up. Bound parameters only.
 */
import type { Database } from "../db/index.ts";
import { addBytes } from "./counters.ts";

const DAY = 86_400_000;

export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export interface DayBytes {
  day: string;
  link: string;
  bytes: number;
}

export class UsageLedger {
  private pending = new Map<string, number>();

  constructor(private readonly db: Database) {}

  /** n bytes of site over link arrived at atMs. */
  add(siteId: string, link: string, atMs: number, n: number): void {
    if (!(n > 0)) return;
    const k = `${siteId}\u0000${link}\u0000${dayOf(atMs)}`;
    this.pending.set(k, (this.pending.get(k) ?? 0) + n);
  }

  /**
   * One statement adding every pending count (per site, link and day) to the stored ones, so
   * nodes counting at once add up; the month's total is summed from the days (plus tr_usage rows
   * written by older versions). Counts that fail to land are kept for the next flush.
   */
  async flush(): Promise<void> {
    const pending = [...this.pending.entries()];
    if (!pending.length) return;
    this.pending.clear();
    try {
      await addBytes(this.db, "tr_usage_daily", ["site_id", "link", "day"], pending.map(([k, n]) => [...(k.split("\u0000") as [string, string, string]), n] as const));
    } catch (e) {
      for (const [k, n] of pending) this.pending.set(k, (this.pending.get(k) ?? 0) + n);
      throw e;
    }
  }

  /** Bytes per link in one budget month (YYYY-MM, UTC). */
  async month(siteId: string, month: string): Promise<{ link: string; bytes: number }[]> {
    const rows = await this.db.query<{ link: string; bytes: string }>(
      `SELECT link, SUM(bytes) AS bytes FROM (SELECT link, bytes FROM tr_usage WHERE site_id = $1 AND month = $2 UNION ALL SELECT link, bytes FROM tr_usage_daily WHERE site_id = $1 AND day >= $3 AND day <= $4) AS u GROUP BY link ORDER BY link`,
      [siteId, month, `${month}-01`, `${month}-31`],
    );
    return rows.map((r) => ({ link: r.link, bytes: Number(r.bytes) }));
  }

  /** Bytes per UTC day and link over the `days` days ending with the day of nowMs, oldest first. */
  async days(siteId: string, nowMs: number, days: number): Promise<DayBytes[]> {
    const from = dayOf(nowMs - (days - 1) * DAY);
    const rows = await this.db.query<{ day: string; link: string; bytes: string }>(`SELECT day, link, bytes FROM tr_usage_daily WHERE site_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, link`, [siteId, from, dayOf(nowMs)]);
    return rows.map((r) => ({ day: r.day, link: r.link, bytes: Number(r.bytes) }));
  }
}
