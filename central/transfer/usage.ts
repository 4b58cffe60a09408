/**
 * Bytes central received per site and link per UTC day (tr_usage_daily): the history the link
 * budget chart draws, and summed by month what the budget view compares with the edge's own
 * count (tr_usage holds the per-month counts of older versions and is still added in).
 * Counted in memory as uploads arrive and written on flush (the engine's tick and stop), so a
 * restart keeps everything flushed before it. Bound parameters only.
 */
import type { Db } from "../db.ts";

const DAY = 86_400_000;

export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export interface DayBytes {
  day: string;
  link: string;
  bytes: number;
}

export class UsageLedger {
  private pending = new Map<string, number>();

  constructor(private readonly db: Db) {}

  static readonly schema = [
    `CREATE TABLE IF NOT EXISTS tr_usage (site_id VARCHAR, month VARCHAR, link VARCHAR, bytes BIGINT, PRIMARY KEY (site_id, month, link))`,
    `CREATE TABLE IF NOT EXISTS tr_usage_daily (site_id VARCHAR, day VARCHAR, link VARCHAR, bytes BIGINT, PRIMARY KEY (site_id, day, link))`,
  ];

  /** n bytes of site over link arrived at atMs. */
  add(siteId: string, link: string, atMs: number, n: number): void {
    if (!(n > 0)) return;
    const k = `${siteId}\u0000${link}\u0000${dayOf(atMs)}`;
    this.pending.set(k, (this.pending.get(k) ?? 0) + n);
  }

  /** One upsert per site, link and day: the month's total is summed from the days (plus tr_usage rows written by older versions). */
  async flush(): Promise<void> {
    const pending = [...this.pending.entries()];
    this.pending.clear();
    for (const [k, n] of pending) {
      const [site, link, day] = k.split("\u0000") as [string, string, string];
      await this.db.run(`INSERT INTO tr_usage_daily VALUES ($1, $2, $3, $4) ON CONFLICT (site_id, day, link) DO UPDATE SET bytes = tr_usage_daily.bytes + EXCLUDED.bytes`, [site, day, link, n]);
    }
  }

  /** Bytes per link in one budget month (YYYY-MM, UTC). */
  async month(siteId: string, month: string, via: "all" | "read" = "all"): Promise<{ link: string; bytes: number }[]> {
    const rows = await this.db[via]<{ link: string; bytes: string }>(
      `SELECT link, SUM(bytes) AS bytes FROM (SELECT link, bytes FROM tr_usage WHERE site_id = $1 AND month = $2 UNION ALL SELECT link, bytes FROM tr_usage_daily WHERE site_id = $1 AND day >= $3 AND day <= $4) GROUP BY link ORDER BY link`,
      [siteId, month, `${month}-01`, `${month}-31`],
    );
    return rows.map((r) => ({ link: r.link, bytes: Number(r.bytes) }));
  }

  /** Bytes per UTC day and link over the `days` days ending with the day of nowMs, oldest first. */
  async days(siteId: string, nowMs: number, days: number, via: "all" | "read" = "all"): Promise<DayBytes[]> {
    const from = dayOf(nowMs - (days - 1) * DAY);
    const rows = await this.db[via]<{ day: string; link: string; bytes: string }>(`SELECT day, link, bytes FROM tr_usage_daily WHERE site_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, link`, [siteId, from, dayOf(nowMs)]);
    return rows.map((r) => ({ day: r.day, link: r.link, bytes: Number(r.bytes) }));
  }
}
