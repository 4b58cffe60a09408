/**
 * Link budgets as users see them: a site's transfer view (active link; per link its rate cap,
 * monthly budget, the edge's count of bytes sent, central's count received, live bytes and
 * what is left; the queue by class from the last plan; goodput, commits, lost segments, depot
 * offload) and what a retrieval would cost before it starts. Reads only: must not plan, count
 * bytes (link-meter.ts) or gate live (live-budget.ts).
 */
import type { Clock } from "../../lib/clock.ts";
import { budgetMonth, linkProfile } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import { liveBytesByLink } from "./live-budget.ts";
import type { LinkMeter } from "./link-meter.ts";
import type { DepotOffload } from "./offload.ts";
import type { Planner } from "./planner.ts";
import type { Receiver } from "./receiver.ts";
import type { SiteInputs } from "./site-inputs.ts";

export interface BudgetViewDeps {
  db: Database;
  clock: Clock;
  inputs: SiteInputs;
  meter: LinkMeter;
  planner: Planner;
  offload: DepotOffload;
  /** Its counters since central started (all sites). */
  receiver: Receiver;
}

export class BudgetView {
  constructor(private readonly d: BudgetViewDeps) {}

  /**
   * What a retrieval of [fromMs, toMs) would move, per stream (bytes the edge holds that central
   * does not), against the active link's budget left this month — shown before it starts.
   */
  async estimate(siteId: string, cameraId: string, fromMs: number, toMs: number) {
    const streams: Record<string, { bytes: number; heldAtCentralBytes: number; segmentsMissing: number }> = {};
    for (const stream of ["main", "sub"] as const) {
      const p = await this.d.inputs.progress(siteId, cameraId, stream, fromMs, toMs);
      streams[stream] = { bytes: p.total - p.done, heldAtCentralBytes: p.done, segmentsMissing: p.missing };
    }
    const t = await this.siteTransfer(siteId);
    const link = t.links.find((l) => l.link === t.link) ?? null;
    return { link: t.link, budget: link && link.monthlyBytes ? { monthlyBytes: link.monthlyBytes, usedBytes: link.usedBytes, remainingBytes: link.remainingBytes ?? 0 } : null, streams };
  }

  async siteTransfer(siteId: string) {
    await this.d.meter.flush();
    const now = this.d.clock.now();
    const month = budgetMonth(now);
    // Queued together; the counts in one statement (on the embedded database each statement runs on central's event loop).
    const counts = this.d.db.query<{ commits: number; lost: number }>(`SELECT (SELECT count(*) FROM tr_commits WHERE site_id = $1)::int AS commits, (SELECT count(*) FROM tr_lost WHERE site_id = $1)::int AS lost`, [siteId]);
    const [central, days, edgeRows, { policy }, items, [n]] = await Promise.all([
      this.d.meter.usage.month(siteId, month),
      this.d.meter.usage.days(siteId, now, 31),
      this.d.db.query<{ month: string; by_link: string; link: string; updated_ms: string }>(`SELECT * FROM tr_edge_usage WHERE site_id = $1`, [siteId]),
      this.d.inputs.policy(siteId),
      this.d.planner.recentPlan(siteId),
      counts,
    ]);
    const commits = Number(n?.commits ?? 0);
    const lost = Number(n?.lost ?? 0);
    const edge = edgeRows[0];
    const byClass: Record<string, { items: number; bytes: number }> = {};
    for (const it of items) {
      const c = (byClass[it.cls] ??= { items: 0, bytes: 0 });
      c.items++;
      c.bytes += it.bytes - it.offset;
    }
    const edgeBy = edge && edge.month === month ? (JSON.parse(edge.by_link) as Record<string, number>) : {};
    const liveBy = await liveBytesByLink(this.d.db, siteId, month);
    const links = new Set([...Object.keys(policy?.links ?? {}), ...Object.keys(edgeBy), ...central.map((c) => c.link), ...(edge ? [edge.link] : [])]);
    return {
      site: siteId,
      link: edge?.link ?? null,
      month,
      links: [...links].map((l) => {
        const prof = linkProfile(policy, l);
        const used = edgeBy[l] ?? 0;
        return {
          link: l,
          rateBitsPerSecond: prof.rateBitsPerSecond ?? null,
          monthlyBytes: prof.monthlyBytes ?? null,
          allow: prof.allow ?? null,
          usedBytes: used,
          receivedBytes: central.find((c) => c.link === l)?.bytes ?? 0,
          /** Live video central received on this link this month (counts against the budget too). */
          liveBytes: liveBy[l] ?? 0,
          remainingBytes: prof.monthlyBytes ? Math.max(0, prof.monthlyBytes - used - (liveBy[l] ?? 0)) : null,
        };
      }),
      /** Bytes central received per UTC day and link, the last 31 days (oldest first). */
      days,
      queue: { items: items.length, bytes: items.reduce((a, i) => a + i.bytes - i.offset, 0), byClass, atRisk: items.filter((i) => i.atRisk).length },
      goodputBytesPerSecond: Math.round(this.d.meter.goodputOf(siteId) ?? 0),
      /** Receiver counters since central started (all sites). */
      receiver: { ...this.d.receiver.stats },
      commits,
      /** Depot offload (parked on a depot link): state, and when the site last finished one. */
      offload: this.d.offload.view(siteId, policy),
      /** Segments the edge overwrote before they reached central. */
      lost,
    };
  }
}
