/**
 * The planner: what a site should send central now — every edge segment central lacks (the
 * one answer of central/holdings, through site-inputs.ts) that the continuous and scheduled
 * options, a depot offload or an active retrieval want, each at its highest class, ordered by
 * class, overwrite deadline (deadlines.ts raises what would be lost) and start. Keeps each
 * site's last plan for the views. Reads jobs, never changes them (retrievals.ts does); must
 * not decide held or missing itself.
 */
import type { Clock } from "../../lib/clock.ts";
import type { StreamKind } from "../../lib/store/index.ts";
import { classRank, effectivePolicy, inWindows, type TransferClass, type WorkItem } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import { ACTIVE } from "./db.ts";
import type { OverwriteDeadlines } from "./deadlines.ts";
import { CONTINUOUS } from "./live-recording.ts";
import type { DepotOffload } from "./offload.ts";
import { streamsToPlan } from "./progressive.ts";
import type { Receiver } from "./receiver.ts";
import type { Seg, SiteInputs } from "./site-inputs.ts";

/** A planned segment: the WorkItem the edge gets, plus what the views show (at risk, end). */
export type PlanItem = WorkItem & { atRisk: boolean; endMs: number };

/** How old a site's last plan may be for the views to show it rather than plan again (an edge's long poll re-plans about every second). */
const PLAN_REUSE_MS = 5000;
/** How long a site's list of active jobs is reused by the plans (real time; see activeJobs). */
const JOBS_TTL_MS = 1000;

interface ActiveJob {
  id: string;
  camera_id: string;
  stream: StreamKind;
  from_ms: number;
  to_ms: number;
  priority: TransferClass;
}

export interface PlannerDeps {
  db: Database;
  clock: Clock;
  inputs: SiteInputs;
  /** Partial uploads: where each planned segment resumes. */
  receiver: Receiver;
  offload: DepotOffload;
  deadlines: OverwriteDeadlines;
}

export class Planner {
  /**
   * The last plan per site. An edge's long poll plans every second or so; the views (site
   * details, the transfer view, estimates) read that plan instead of running another one, which
   * costs a few mirror queries per camera, each waiting in the database queue behind
   * control-plane batches. Dropped when a retrieval starts or ends (the views show it at once).
   */
  private readonly lastPlan = new Map<string, { atMs: number; items: PlanItem[] }>();
  private readonly jobs = new Map<string, { at: number; rows: Promise<ActiveJob[]> }>();

  constructor(private readonly d: PlannerDeps) {}

  /** Everything this site should send now, most urgent first (before the edge applies its link rules). */
  async plan(siteId: string): Promise<PlanItem[]> {
    const now = this.d.clock.now();
    const { policy, sinceMs } = await this.d.inputs.policy(siteId);
    const want = new Map<string, { seg: Seg; cls: TransferClass; links: string[] | null }>();
    const add = (seg: Seg, cls: TransferClass, links: string[] | null) => {
      const k = `${seg.cameraId}/${seg.stream}/${seg.startMs}`;
      const cur = want.get(k);
      if (!cur || classRank(cls) > classRank(cur.cls)) want.set(k, { seg, cls, links: cur && cur.links === null ? null : links });
      else if (cur && links === null) cur.links = null;
    };
    const depot = this.d.offload.links(siteId, policy);
    if (!depot) this.d.offload.closed(siteId);
    let depotBytes = 0;
    for (const cam of await this.d.inputs.siteCameras(siteId)) {
      const eff = effectivePolicy(policy, cam);
      const continuous = eff.options.find((o) => (CONTINUOUS as readonly string[]).includes(o));
      const sched = eff.options.includes("scheduled") && inWindows(eff.windows, now, eff.timeZone);
      const offload = depot !== null && !eff.options.includes("none") && !eff.options.includes("edge-only");
      if (!continuous && !sched && !offload) continue;
      const from = continuous === "after-link-down" && !sched && !offload ? sinceMs : 0;
      const segs = await this.d.inputs.mirrorSegs(siteId, cam, eff.stream, from, now + 1);
      if (!segs.length) continue;
      const h = await this.d.inputs.heldAt(siteId, cam, eff.stream, segs[0]!.startMs, segs[segs.length - 1]!.endMs);
      for (const s of segs) {
        if (!h.wanted(s)) continue;
        if (sched) add(s, "scheduled", eff.scheduleLinks);
        if (continuous) add(s, "backfill", null);
        if (offload) {
          add(s, "scheduled", depot);
          depotBytes += s.bytes;
        }
      }
    }
    if (depot) await this.d.offload.progress(siteId, depotBytes);
    const jobs = await this.activeJobs(siteId);
    for (const j of jobs) {
      const subDone = async () => (await this.d.inputs.progress(siteId, j.camera_id, "sub", Number(j.from_ms), Number(j.to_ms))).missing === 0;
      for (const stream of await streamsToPlan(this.d.db, j, subDone)) {
        const segs = await this.d.inputs.mirrorSegs(siteId, j.camera_id, stream, Number(j.from_ms), Number(j.to_ms));
        if (!segs.length) continue;
        const h = await this.d.inputs.heldAt(siteId, j.camera_id, stream, segs[0]!.startMs, segs[segs.length - 1]!.endMs);
        for (const s of segs) if (h.wanted(s)) add(s, j.priority, null);
      }
    }
    const items: PlanItem[] = [];
    const horizons = new Map<string, number | null>();
    for (const w of want.values()) {
      const hk = `${w.seg.cameraId}/${w.seg.stream}`;
      if (!horizons.has(hk)) horizons.set(hk, await this.d.inputs.horizon(siteId, w.seg.cameraId, w.seg.stream));
      const hz = horizons.get(hk)!;
      items.push({
        cameraId: w.seg.cameraId,
        stream: w.seg.stream,
        startMs: w.seg.startMs,
        endMs: w.seg.endMs,
        bytes: w.seg.bytes,
        offset: await this.d.receiver.offsetOf(siteId, w.seg.cameraId, w.seg.stream, w.seg.startMs, w.seg.bytes),
        cls: w.cls,
        links: w.links,
        deadlineMs: hz === null ? null : w.seg.startMs + hz,
        atRisk: false,
      });
    }
    const order = (a: WorkItem, b: WorkItem) => classRank(b.cls) - classRank(a.cls) || (a.deadlineMs ?? Infinity) - (b.deadlineMs ?? Infinity) || a.startMs - b.startMs;
    items.sort(order);
    await this.d.deadlines.walk(siteId, policy, items, now, order);
    this.lastPlan.set(siteId, { atMs: now, items });
    return items;
  }

  /** The site's plan: the last one if it is at most PLAN_REUSE_MS old, else a new one. */
  async recentPlan(siteId: string): Promise<PlanItem[]> {
    const last = this.lastPlan.get(siteId);
    return last && this.d.clock.now() - last.atMs <= PLAN_REUSE_MS ? last.items : this.plan(siteId);
  }

  /**
   * The site's active jobs, read at most every JOBS_TTL_MS: an edge busy uploading polls back
   * to back, and the embedded database runs on central's event loop. A job created, cancelled
   * or finished on this node drops the cached list (forget); one created on another node is
   * seen within JOBS_TTL_MS.
   */
  private activeJobs(siteId: string): Promise<ActiveJob[]> {
    const c = this.jobs.get(siteId);
    if (c && performance.now() - c.at < JOBS_TTL_MS) return c.rows;
    const rows = this.d.db.query<ActiveJob>(`SELECT id, camera_id, stream, from_ms, to_ms, priority FROM tr_retrievals WHERE site_id = $1 AND state IN ${ACTIVE}`, [siteId]);
    this.jobs.set(siteId, { at: performance.now(), rows });
    rows.catch(() => this.jobs.delete(siteId));
    return rows;
  }

  /** A job started or ended: the site's next view plans again. */
  forget(siteId: string): void {
    this.lastPlan.delete(siteId);
    this.jobs.delete(siteId);
  }
}
