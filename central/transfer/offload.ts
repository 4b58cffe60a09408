/**
 * Depot offload: a vehicle parked (ignition off) on one of its policy's depot links (e.g.
 * "depot-wifi") sends central everything central lacks, at bulk (`scheduled`) class, on those
 * links only. The edge reports its link and vehicle state with every work poll; the planner
 * asks `links()` whether the offload window is open for a site and reports back how much is
 * still wanted (`progress()`). An offload is "done" when nothing is left while the window is
 * open: that time is the site's "last offloaded", kept in the database (tr_offload) so it
 * survives a restart, and shown in the site's transfer view and the fleet positions.
 *
 * Several central nodes: the edge's poll may reach any node, so each node knows the link and
 * vehicle state only from the polls it answered. An observation older than OBSERVATION_MS
 * (longer than any poll's wait) counts as none — the window is closed on that node: a node the
 * edge's polls left neither plans the offload nor records progress from what it saw before —
 * and every node re-reads the table's "last offloaded" (load, every few seconds from the
 * engine's tick), so the offload another node finished shows everywhere. A run's progress
 * (started, bytes left) is known to the node answering the polls.
 */
import { iso, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { SitePolicy } from "../../federation/transfer/index.ts";
import { tableFingerprint, type Database } from "../db/index.ts";

/** How long the link and vehicle state a poll reported stays this node's knowledge (a poll waits at most 60 s; see the WorkRequest). */
export const OBSERVATION_MS = 90_000;

interface SiteOffload {
  link: string | null;
  vehicle: string | null;
  /** When a poll this node answered reported them. */
  observedMs: number | null;
  /** The current run (window open and something was wanted). */
  startedMs: number | null;
  pendingBytes: number;
  /** The window was open at the last plan (a closed → open change with nothing to pull is an offload done now). */
  open: boolean;
  doneMs: number | null;
}

export interface OffloadView {
  /** idle: the window is closed (not parked, or not on a depot link); running: pulling; done: nothing left. */
  state: "idle" | "running" | "done";
  links: string[];
  startedAt: string | null;
  pendingBytes: number;
  lastOffloadedAt: string | null;
}

export class DepotOffload {
  private sites = new Map<string, SiteOffload>();
  /** tr_offload's fingerprint at the last load (null: never loaded). */
  private loadedStamp: string | null = null;

  constructor(private readonly d: { db: Database; clock: Clock; log: Logger }) {}

  /**
   * Every site's last offload from the table (at start, and every few seconds: offloads other
   * nodes finished); never moves one back. The rows only when the table's fingerprint moved
   * (central/db tableFingerprint): every node re-read a row per depot site every 2 s.
   */
  async load(): Promise<void> {
    const stamp = await tableFingerprint(this.d.db, "tr_offload");
    if (stamp === this.loadedStamp) return;
    for (const r of await this.d.db.query<{ site_id: string; done_ms: string | null }>(`SELECT site_id, done_ms FROM tr_offload`)) {
      if (r.done_ms === null) continue;
      const s = this.site(r.site_id);
      s.doneMs = Math.max(s.doneMs ?? 0, Number(r.done_ms));
    }
    this.loadedStamp = stamp; // taken before the read: a write during it is read at the next load
  }

  private site(siteId: string): SiteOffload {
    let s = this.sites.get(siteId);
    if (!s) this.sites.set(siteId, (s = { link: null, vehicle: null, observedMs: null, startedMs: null, pendingBytes: 0, open: false, doneMs: null }));
    return s;
  }

  /** What the edge said in its work poll. */
  observe(siteId: string, link: string, vehicle: string | undefined): void {
    const s = this.site(siteId);
    s.link = link;
    s.vehicle = vehicle ?? null;
    s.observedMs = this.d.clock.now();
  }

  /** The depot links when the offload window is open for this site now (as a recent poll to this node said), else null. */
  links(siteId: string, policy: SitePolicy | null): string[] | null {
    const o = policy?.offload;
    const s = this.sites.get(siteId);
    if (!o || !s || s.link === null || !o.links.includes(s.link)) return null;
    if (s.observedMs === null || this.d.clock.now() - s.observedMs > OBSERVATION_MS) return null; // the edge's polls went elsewhere
    if (s.vehicle !== "parked") return null;
    return o.links;
  }

  /**
   * After planning with the window open: bytes still wanted by the offload. Nothing left after a
   * run, or as the window opens, is an offload done now (the time stays until the next one).
   */
  async progress(siteId: string, pendingBytes: number): Promise<void> {
    const s = this.site(siteId);
    const now = this.d.clock.now();
    const opened = !s.open;
    s.open = true;
    s.pendingBytes = pendingBytes;
    if (pendingBytes > 0) {
      if (s.startedMs === null) {
        s.startedMs = now;
        this.d.log.info("depot offload started", { site: siteId, link: s.link, bytes: pendingBytes });
        await this.save(siteId, s);
      }
      return;
    }
    const wasRunning = s.startedMs !== null;
    if (!wasRunning && !opened) return;
    s.doneMs = now;
    if (wasRunning) this.d.log.info("depot offload complete", { site: siteId, startedAt: iso(s.startedMs!) });
    s.startedMs = null;
    await this.save(siteId, s);
  }

  /** The window closed (drove off, link changed): a run in progress stops where it is. */
  closed(siteId: string): void {
    const s = this.sites.get(siteId);
    if (s) s.open = false;
    if (s && s.startedMs !== null) {
      this.d.log.info("depot offload interrupted", { site: siteId, link: s.link, vehicle: s.vehicle, pendingBytes: s.pendingBytes });
      s.startedMs = null;
    }
  }

  private async save(siteId: string, s: SiteOffload): Promise<void> {
    await this.d.db.run(`INSERT INTO tr_offload VALUES ($1, $2, $3, $4) ON CONFLICT (site_id) DO UPDATE SET started_ms = EXCLUDED.started_ms, done_ms = EXCLUDED.done_ms, bytes = EXCLUDED.bytes`, [siteId, s.startedMs, s.doneMs, s.pendingBytes]);
  }

  /** When the site last finished an offload (ms), or null. */
  lastOffloadedMs(siteId: string): number | null {
    return this.sites.get(siteId)?.doneMs ?? null;
  }

  view(siteId: string, policy: SitePolicy | null): OffloadView {
    const s = this.sites.get(siteId);
    const open = this.links(siteId, policy) !== null;
    return {
      // Open but not planned yet (a poll reported "parked" and its plan is still running): not done yet.
      state: !open ? "idle" : (s?.startedMs !== null && s?.startedMs !== undefined) || !s?.open ? "running" : "done",
      links: policy?.offload?.links ?? [],
      startedAt: s?.startedMs ? iso(s.startedMs) : null,
      pendingBytes: open ? (s?.pendingBytes ?? 0) : 0,
      lastOffloadedAt: s?.doneMs ? iso(s.doneMs) : null,
    };
  }
}
