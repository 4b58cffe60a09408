/**
 * What each site's link is doing, as central measures it: the link the edge named in its last
 * work poll, the edge's own count of bytes sent this month (tr_edge_usage), the bytes central
 * received per link and day (usage.ts) and the measured goodput (lib/goodput.ts) that ETAs
 * and the overwrite-deadline walk use. Counts and measures only: must not plan, touch jobs or
 * judge budgets (budget.ts shows them).
 */
import type { Clock } from "../../lib/clock.ts";
import { Goodput } from "../../lib/goodput.ts";
import { linkProfile, type SitePolicy, type WorkRequest } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import { UsageLedger } from "./usage.ts";

/** How often an unchanged edge usage report is written again (its updated_ms). */
const EDGE_USAGE_REWRITE_MS = 5000;

export class LinkMeter {
  /** Bytes central received per site, link and day (added to the shared rows on flush, usage.ts). */
  readonly usage: UsageLedger;
  private goodput = new Map<string, Goodput>();
  private lastLink = new Map<string, string>();
  /** The edge's usage report as last written per site (recordEdgeUsage). */
  private edgeUsage = new Map<string, { v: string; at: number }>();

  constructor(private readonly d: { db: Database; clock: Clock }) {
    this.usage = new UsageLedger(d.db);
  }

  /** Upload bytes arrived from a site on a link (the receiver's onBytes). */
  received(site: string, link: string, n: number): void {
    this.usage.add(site, link, this.d.clock.now(), n);
    // Measured goodput per site (lib/goodput.ts): the ETA and deadline estimates use it.
    let g = this.goodput.get(site);
    if (!g) this.goodput.set(site, (g = new Goodput()));
    g.add(this.d.clock.now(), n);
  }

  /** The link the edge named in its work poll. */
  observeLink(siteId: string, link: string): void {
    this.lastLink.set(siteId, link);
  }

  /** The edge's own count of what it sent this month, per link (from its work poll). */
  async recordEdgeUsage(siteId: string, req: Pick<WorkRequest, "usage" | "link">, now: number): Promise<void> {
    // A busy edge polls back to back with the same count: written when it changed, else every few seconds.
    const v = JSON.stringify([req.usage.month, req.usage.byLink, req.link]);
    const last = this.edgeUsage.get(siteId);
    if (last && last.v === v && now - last.at < EDGE_USAGE_REWRITE_MS && now >= last.at) return;
    this.edgeUsage.set(siteId, { v, at: now });
    await this.d.db.run(`INSERT INTO tr_edge_usage VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id) DO UPDATE SET month = EXCLUDED.month, by_link = EXCLUDED.by_link, link = EXCLUDED.link, updated_ms = EXCLUDED.updated_ms`, [siteId, req.usage.month, JSON.stringify(req.usage.byLink), req.link, now]);
  }

  /** Measured goodput of the site's link in bytes/s, or null before anything moved lately. */
  goodputOf(siteId: string): number | null {
    return this.goodput.get(siteId)?.bytesPerSecond(this.d.clock.now()) ?? null;
  }

  /** For the deadline walk: the measured goodput, else the link's cap, else 2 Mbit/s. */
  async expectedRate(siteId: string, policy: SitePolicy | null): Promise<number> {
    const seen = this.goodputOf(siteId);
    const link = this.lastLink.get(siteId) ?? "unknown";
    const cap = linkProfile(policy, link).rateBitsPerSecond;
    const capBps = cap ? cap / 8 : 0;
    return Math.max(1, seen ?? (capBps || 250_000));
  }

  flush(): Promise<void> {
    return this.usage.flush();
  }
}
