/**
 * Live within the link budget. Live video from a site on a link with a monthly budget counts
 * against that budget (central counts the live bytes it receives per site/month/link in
 * `tr_live_usage`, kept across restarts), and is limited by it: when what the edge reports
 * for the link (uploads and previews) plus the live bytes reach the link's `monthlyBytes`,
 * live from that site stops, or is refused at start, with a reason the operator sees in the
 * tile. An admin may let live run anyway until a given time (`POST /api/v1/sites/{id}/live-
 * override`, right `admin-policies` on the site, audited); `DELETE` ends the override.
 *
 * The gate is synchronous (CentralLive asks it at every start and once a second while live
 * runs); the state behind it is refreshed from the database at most once a second per site.
 */
import { z } from "zod";
import { iso, type Clock } from "../../lib/clock.ts";
import { badRequest, notFound } from "../../lib/http/problem.ts";
import { budgetMonth, linkProfile, type SitePolicy } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import type { ApiRouter } from "../openapi.ts";
import { addBytes } from "./counters.ts";

export interface LiveBudgetDeps {
  db: Database;
  clock: Clock;
  policy: (siteId: string) => Promise<{ policy: SitePolicy | null }>;
  /** The site's active link as the control plane knows it; else the edge's last work poll. */
  linkOf?: (siteId: string) => string | undefined;
}

export interface LiveBudgetState {
  site: string;
  link: string | null;
  month: string;
  monthlyBytes: number | null;
  /** The edge's count for the link this month (uploads, previews). */
  transferBytes: number;
  /** Live bytes central received from the site on this link this month. */
  liveBytes: number;
  remainingBytes: number | null;
  /** Why live is paused now (null = it may run). */
  paused: string | null;
  override: { until: string; by: string; reason: string | null } | null;
}

/** Live bytes central received from a site per link in a month (for the site's transfer view and estimates). */
export async function liveBytesByLink(db: Database, siteId: string, month: string): Promise<Record<string, number>> {
  const rows = await db.query<{ link: string; bytes: string }>(`SELECT link, bytes FROM tr_live_usage WHERE site_id = $1 AND month = $2`, [siteId, month]);
  return Object.fromEntries(rows.map((r) => [r.link, Number(r.bytes)]));
}

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** Bytes for people: 1.0 GB, 48 MB, 900 kB (decimal units, like the budgets are written). */
export function humanBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${Math.round(n / 1e6)} MB`;
  return `${Math.round(n / 1e3)} kB`;
}

export class LiveBudget {
  private states = new Map<string, { at: number; s: LiveBudgetState }>();
  private refreshing = new Map<string, Promise<LiveBudgetState>>();
  /** Live bytes not written yet, per site/month/link. */
  private pending = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly d: LiveBudgetDeps) {}

  start(): void {
    // A failed flush keeps its counts for the next one (a database hiccup loses nothing).
    this.timer = setInterval(() => void this.flush().catch(() => undefined), 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Live bytes received from a site (CentralLive's byte counter). */
  add(siteId: string, n: number): void {
    const now = this.d.clock.now();
    const link = this.d.linkOf?.(siteId) ?? this.states.get(siteId)?.s.link ?? "unknown";
    const k = JSON.stringify([siteId, budgetMonth(now), link]);
    this.pending.set(k, (this.pending.get(k) ?? 0) + n);
    const st = this.states.get(siteId)?.s;
    if (st && st.link === link && st.month === budgetMonth(now)) {
      st.liveBytes += n;
      this.decide(st);
    }
  }

  async flush(): Promise<void> {
    if (!this.pending.size) return;
    const rows = [...this.pending];
    this.pending.clear();
    // Added to the shared row (counters.ts): another node's live bytes for the site add up.
    try {
      await addBytes(this.d.db, "tr_live_usage", ["site_id", "month", "link"], rows.map(([k, n]) => [...(JSON.parse(k) as [string, string, string]), n] as const));
    } catch (e) {
      for (const [k, n] of rows) this.pending.set(k, (this.pending.get(k) ?? 0) + n);
      throw e;
    }
  }

  /**
   * May live from this site run? null = yes; else the reason (shown in the tile). Answers from
   * the state refreshed at most a second ago; the first call for a site refreshes and allows.
   */
  gate(siteId: string): string | null {
    const c = this.states.get(siteId);
    if (!c || this.d.clock.now() - c.at > 1000) void this.state(siteId).catch(() => undefined);
    return c?.s.paused ?? null;
  }

  /** The site's live budget now (fresh from the database). */
  state(siteId: string): Promise<LiveBudgetState> {
    let p = this.refreshing.get(siteId);
    if (!p) {
      p = this.compute(siteId).finally(() => this.refreshing.delete(siteId));
      this.refreshing.set(siteId, p);
    }
    return p;
  }

  private async compute(siteId: string): Promise<LiveBudgetState> {
    await this.flush();
    const now = this.d.clock.now();
    const month = budgetMonth(now);
    const edge = (await this.d.db.query<{ month: string; by_link: string; link: string }>(`SELECT month, by_link, link FROM tr_edge_usage WHERE site_id = $1`, [siteId]))[0];
    const link = this.d.linkOf?.(siteId) ?? edge?.link ?? null;
    const { policy } = await this.d.policy(siteId);
    const monthly = link ? (linkProfile(policy, link).monthlyBytes ?? null) : null;
    const transfer = edge && edge.month === month && link ? ((JSON.parse(edge.by_link) as Record<string, number>)[link] ?? 0) : 0;
    const live = link ? Number((await this.d.db.query<{ b: string }>(`SELECT bytes AS b FROM tr_live_usage WHERE site_id = $1 AND month = $2 AND link = $3`, [siteId, month, link]))[0]?.b ?? 0) : 0;
    const o = (await this.d.db.query<{ until_ms: string; created_by: string; reason: string | null }>(`SELECT until_ms, created_by, reason FROM tr_live_override WHERE site_id = $1 AND until_ms > $2`, [siteId, now]))[0];
    const s: LiveBudgetState = {
      site: siteId,
      link,
      month,
      monthlyBytes: monthly,
      transferBytes: transfer,
      liveBytes: live,
      remainingBytes: null,
      paused: null,
      override: o ? { until: iso(Number(o.until_ms)), by: o.created_by, reason: o.reason } : null,
    };
    this.decide(s);
    this.states.set(siteId, { at: now, s });
    return s;
  }

  private decide(s: LiveBudgetState): void {
    if (s.monthlyBytes === null) return;
    const used = s.transferBytes + s.liveBytes;
    s.remainingBytes = Math.max(0, s.monthlyBytes - used);
    const overridden = s.override && Date.parse(s.override.until) > this.d.clock.now();
    s.paused = used >= s.monthlyBytes && !overridden ? `live paused: this site's ${s.link} budget for ${MONTHS[Number(s.month.slice(5, 7)) - 1]} is used up (${humanBytes(s.monthlyBytes)})` : null;
  }

  async setOverride(siteId: string, untilMs: number, by: string, reason: string | null): Promise<LiveBudgetState> {
    await this.d.db.run(`INSERT INTO tr_live_override VALUES ($1, $2, $3, $4, $5) ON CONFLICT (site_id) DO UPDATE SET until_ms = EXCLUDED.until_ms, created_by = EXCLUDED.created_by, created_ms = EXCLUDED.created_ms, reason = EXCLUDED.reason`, [siteId, untilMs, by, this.d.clock.now(), reason]);
    return this.state(siteId);
  }

  async endOverride(siteId: string): Promise<LiveBudgetState> {
    await this.d.db.run(`DELETE FROM tr_live_override WHERE site_id = $1`, [siteId]);
    return this.state(siteId);
  }
}

const OverridePost = z.strictObject({
  /** How long live may run past the budget (default 24 h, at most 31 days). */
  hours: z.number().positive().max(744).default(24),
  reason: z.string().max(500).optional(),
});

export function mountLiveBudget(api: ApiRouter, d: { budget: LiveBudget; siteExists: (id: string) => boolean; clock: Clock }): void {
  const tag = "transfer";
  const site = (id: string) => {
    if (!d.siteExists(id)) throw notFound(`No site with id ${id}.`);
    return id;
  };
  api.route({ method: "get", path: "/api/v1/sites/:id/live-budget", summary: "Live against the site's link budget: used, remaining, paused (with the reason), override", tag, rights: { right: "any", site: ":id", viaCamera: true } }, async (c) => c.json(await d.budget.state(site(c.req.param("id")))));
  api.route(
    { method: "post", path: "/api/v1/sites/:id/live-override", summary: "Let live from the site run past its link budget for a while (audited)", tag, rights: { right: "admin-policies", site: ":id" }, body: OverridePost },
    async (c, { body }) => {
      const id = site(c.req.param("id"));
      if (!body) throw badRequest("A JSON body {hours?, reason?} is required.");
      const until = d.clock.now() + body.hours * 3_600_000;
      const s = await d.budget.setOverride(id, until, c.var.session.user, body.reason ?? null);
      api.ops.recordAudit({ user: c.var.session.user, action: "config", subject: "site.live-override", siteId: id, toMs: until, outcome: "ok", detail: { hours: body.hours, until: iso(until), ...(body.reason ? { reason: body.reason } : {}) } });
      return c.json(s, 201);
    },
  );
  api.route({ method: "delete", path: "/api/v1/sites/:id/live-override", summary: "End the site's live budget override (audited)", tag, rights: { right: "admin-policies", site: ":id" } }, async (c) => {
    const id = site(c.req.param("id"));
    const s = await d.budget.endOverride(id);
    api.ops.recordAudit({ user: c.var.session.user, action: "config", subject: "site.live-override.end", siteId: id, outcome: "ok" });
    return c.json(s);
  });
}
