/**
 * The transfer engine at central: turns policies, retrievals, events and evidence locks into
 * the list of edge segments each site should send (WorkItems, by class then overwrite
 * deadline), answers the edge's long poll, follows job progress, raises at-risk jobs and
 * alarms when footage will be lost anyway, keeps cross-site evidence locks, and records live
 * for the continuous options when a live recorder is wired. What central holds is read from
 * its MediaStore (the disk is the truth); jobs and locks are rows in transfer.duckdb.
 */
import { iso, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore, StreamKind } from "../../lib/store/index.ts";
import { centralCameraId, splitCentralCameraId } from "../../federation/protocol/index.ts";
import {
  TRANSFER_VERSION,
  budgetMonth,
  classRank,
  effectivePolicy,
  inWindows,
  linkProfile,
  type SitePolicy,
  type TransferClass,
  type WorkItem,
  type WorkRequest,
  type WorkResponse,
  WorkRequest as WorkRequestSchema,
} from "../../federation/transfer/index.ts";
import type { Db } from "../db.ts";
import type { Sites } from "../sites/index.ts";
import type { EdgeIndexReader } from "../mirror/index.ts";
import type { Receiver } from "./receiver.ts";
import { centralRanges } from "../holdings/index.ts";
import { LinkMeter } from "./link-meter.ts";
import { CONTINUOUS, LiveRecording, type RecordLive } from "./live-recording.ts";
import { OverwriteDeadlines, type RaiseEvent } from "./deadlines.ts";
import { qualityOf, setQuality, streamsToPlan, type RetrievalQuality } from "./progressive.ts";
import { liveBytesByLink } from "./live-budget.ts";
import { DepotOffload } from "./offload.ts";
import { EngineError } from "./errors.ts";
import { EvidenceLocks } from "./locks.ts";
import { Triggers } from "./triggers.ts";
import { ACTIVE } from "./db.ts";
import { Retrievals, type AttachClip, type RetrievalState, type RetrievalView } from "./retrievals.ts";
import { SiteInputs, type Seg } from "./site-inputs.ts";

export interface EngineDeps {
  db: Db;
  store: MediaStore;
  receiver: Receiver;
  clock: Clock;
  log: Logger;
  chunkSize: number;
  /** The control plane: cameras, policies (desired config), commands, link state. */
  sites: Sites;
  /** The edges' index as central mirrors it (central/mirror): what each edge holds. */
  mirror: EdgeIndexReader;
  /** Raise an event at central (ops.ingestEvent): footage at risk/lost, budget near its limit. */
  raiseEvent?: RaiseEvent;
  attachClip?: AttachClip;
  recordLive?: RecordLive;
  /** Margin before the edge overwrites footage within which a job counts as at risk. */
  deadlineMarginMs?: number;
  /** A window is complete this long after its end even if the edge index never reaches it. */
  settleMs?: number;
}

export { EngineError, type RetrievalState, type RetrievalView };

/** How old a site's last plan may be for the views to show it rather than plan again (an edge's long poll re-plans about every second). */
const PLAN_REUSE_MS = 5000;

export class Engine {
  private waiters = new Set<() => void>();
  /** Link in use, bytes received, goodput per site (link-meter.ts). */
  readonly meter: LinkMeter;
  /** Overwrite deadlines and footage.at-risk events (deadlines.ts). */
  readonly deadlines: OverwriteDeadlines;
  /** A site's policy, cameras, edge index, central holdings and job progress (site-inputs.ts). */
  readonly inputs: SiteInputs;
  /** Depot offload per site (offload.ts): parked on a depot link → bulk pull. */
  readonly offload: DepotOffload;
  private timer: ReturnType<typeof setInterval> | null = null;
  private ticking = false;
  /**
   * The last plan per site. An edge's long poll plans every second or so; the views (site
   * details, the transfer view, estimates) read that plan instead of running another one, which
   * costs a few mirror queries per camera, each waiting in the database queue behind
   * control-plane batches. Dropped when a retrieval starts or ends (the views show it at once).
   */
  private readonly lastPlan = new Map<string, { atMs: number; items: (WorkItem & { atRisk: boolean; endMs: number })[] }>();

  /** Jobs, progress, ETA (retrievals.ts). */
  readonly retrievals: Retrievals;
  /** Cross-site evidence locks (locks.ts). */
  readonly locks: EvidenceLocks;
  /** Event-triggered transfers and the rules' hooks (triggers.ts). */
  readonly triggers: Triggers;
  /** Central live recording for the continuous options (live-recording.ts). */
  readonly liveRecording: LiveRecording;

  constructor(private readonly d: EngineDeps) {
    this.inputs = new SiteInputs({ db: d.db, store: d.store, receiver: d.receiver, sites: d.sites, mirror: d.mirror });
    this.meter = new LinkMeter({ db: d.db, clock: d.clock });
    this.retrievals = new Retrievals({ db: d.db, clock: d.clock, log: d.log, sites: d.sites, inputs: this.inputs, meter: this.meter, forgetPlan: (id) => this.lastPlan.delete(id), wake: () => this.wake(), attachClip: d.attachClip, settleMs: d.settleMs });
    this.locks = new EvidenceLocks({ db: d.db, store: d.store, clock: d.clock, log: d.log, sites: d.sites, mirror: d.mirror, inputs: this.inputs, retrievals: this.retrievals });
    this.triggers = new Triggers({ sites: d.sites, inputs: this.inputs, retrievals: this.retrievals, locks: this.locks });
    this.liveRecording = new LiveRecording({ sites: d.sites, inputs: this.inputs, log: d.log, recordLive: d.recordLive });
    this.deadlines = new OverwriteDeadlines({ db: d.db, clock: d.clock, log: d.log, meter: this.meter, raiseEvent: d.raiseEvent, deadlineMarginMs: d.deadlineMarginMs });
    this.offload = new DepotOffload({ db: d.db, clock: d.clock, log: d.log });
    d.receiver.onBytes = (site, link, n) => this.meter.received(site, link, n);
    d.receiver.onCommit = () => this.wake();
  }

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const w of this.waiters) w();
    await this.liveRecording.stopAll();
    await this.meter.flush();
  }

  wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Everything this site should send now, most urgent first (before the edge applies its link rules). */
  async plan(siteId: string): Promise<(WorkItem & { atRisk: boolean; endMs: number })[]> {
    const now = this.d.clock.now();
    const { policy, sinceMs } = await this.inputs.policy(siteId, "read");
    const want = new Map<string, { seg: Seg; cls: TransferClass; links: string[] | null }>();
    const add = (seg: Seg, cls: TransferClass, links: string[] | null) => {
      const k = `${seg.cameraId}/${seg.stream}/${seg.startMs}`;
      const cur = want.get(k);
      if (!cur || classRank(cls) > classRank(cur.cls)) want.set(k, { seg, cls, links: cur && cur.links === null ? null : links });
      else if (cur && links === null) cur.links = null;
    };
    const depot = this.offload.links(siteId, policy);
    if (!depot) this.offload.closed(siteId);
    let depotBytes = 0;
    for (const cam of await this.inputs.siteCameras(siteId)) {
      const eff = effectivePolicy(policy, cam);
      const continuous = eff.options.find((o) => (CONTINUOUS as readonly string[]).includes(o));
      const sched = eff.options.includes("scheduled") && inWindows(eff.windows, now, eff.timeZone);
      const offload = depot !== null && !eff.options.includes("none") && !eff.options.includes("edge-only");
      if (!continuous && !sched && !offload) continue;
      const from = continuous === "after-link-down" && !sched && !offload ? sinceMs : 0;
      const segs = await this.inputs.mirrorSegs(siteId, cam, eff.stream, from, now + 1);
      if (!segs.length) continue;
      const h = await this.inputs.heldAt(siteId, cam, eff.stream, segs[0]!.startMs, segs[segs.length - 1]!.endMs);
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
    if (depot) await this.offload.progress(siteId, depotBytes);
    const jobs = await this.d.db.all<{ id: string; camera_id: string; stream: StreamKind; from_ms: string; to_ms: string; priority: TransferClass }>(
      `SELECT id, camera_id, stream, from_ms, to_ms, priority FROM tr_retrievals WHERE site_id = $1 AND state IN ${ACTIVE}`,
      [siteId],
    );
    for (const j of jobs) {
      const subDone = async () => (await this.inputs.progress(siteId, j.camera_id, "sub", Number(j.from_ms), Number(j.to_ms))).missing === 0;
      for (const stream of await streamsToPlan(this.d.db, j, subDone)) {
        const segs = await this.inputs.mirrorSegs(siteId, j.camera_id, stream, Number(j.from_ms), Number(j.to_ms));
        if (!segs.length) continue;
        const h = await this.inputs.heldAt(siteId, j.camera_id, stream, segs[0]!.startMs, segs[segs.length - 1]!.endMs);
        for (const s of segs) if (h.wanted(s)) add(s, j.priority, null);
      }
    }
    const items: (WorkItem & { atRisk: boolean; endMs: number })[] = [];
    const horizons = new Map<string, number | null>();
    for (const w of want.values()) {
      const hk = `${w.seg.cameraId}/${w.seg.stream}`;
      if (!horizons.has(hk)) horizons.set(hk, await this.inputs.horizon(siteId, w.seg.cameraId, w.seg.stream));
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
    await this.deadlines.walk(siteId, policy, items, now, order);
    this.lastPlan.set(siteId, { atMs: now, items });
    return items;
  }

  /** The site's plan: the last one if it is at most PLAN_REUSE_MS old, else a new one. */
  private async recentPlan(siteId: string): Promise<(WorkItem & { atRisk: boolean; endMs: number })[]> {
    const last = this.lastPlan.get(siteId);
    return last && this.d.clock.now() - last.atMs <= PLAN_REUSE_MS ? last.items : this.plan(siteId);
  }

  /** The edge's long poll. */
  async work(siteId: string, raw: unknown): Promise<WorkResponse> {
    const p = WorkRequestSchema.safeParse(raw);
    if (!p.success) throw new EngineError(`work request: ${p.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "invalid");
    const req = p.data;
    const now = this.d.clock.now();
    this.meter.observeLink(siteId, req.link);
    this.offload.observe(siteId, req.link, req.vehicle);
    await this.meter.recordEdgeUsage(siteId, req, now);
    for (const [cam, stream, start] of req.missing) {
      await this.d.db.run(`INSERT OR IGNORE INTO tr_lost VALUES ($1, $2, $3, $4, $5)`, [siteId, cam, stream, start, now]);
      await this.deadlines.alarmOnce(`lost/${siteId}/${cam}/${stream}/${Math.floor(start / 60_000)}`, siteId, cam, { state: "lost", detail: `the edge overwrote footage from ${iso(start)} before it reached central`, startMs: start });
    }
    const release = await this.locks.releasable(req.locks);
    const end = now + req.waitMs;
    for (;;) {
      const items = await this.plan(siteId);
      if (items.length || release.length || this.d.clock.now() >= end || !this.timer) {
        return { v: TRANSFER_VERSION, items: items.slice(0, 500).map(({ atRisk: _a, endMs: _e, ...w }) => w), release, chunkSize: this.d.chunkSize };
      }
      await new Promise<void>((r) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          r();
        };
        const t = setTimeout(done, Math.min(1000, Math.max(0, end - this.d.clock.now())));
        this.waiters.add(done);
      });
    }
  }


  /** Moves active retrievals to running/done/partial; called every second and on demand. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.d.clock.now();
      await this.retrievals.settleActive(now);
      await this.locks.expireLocks(now);
      await this.liveRecording.reconcile();
      await this.meter.flush();
    } catch (e) {
      this.d.log.error("transfer tick failed", { err: e as Error });
    } finally {
      this.ticking = false;
    }
  }





  // --- usage and budgets -----------------------------------------------------------------

  /**
   * What a retrieval of [fromMs, toMs) would move, per stream (bytes the edge holds that central
   * does not), against the active link's budget left this month — shown before it starts.
   */
  async estimate(siteId: string, cameraId: string, fromMs: number, toMs: number) {
    const streams: Record<string, { bytes: number; heldAtCentralBytes: number; segmentsMissing: number }> = {};
    for (const stream of ["main", "sub"] as const) {
      const p = await this.inputs.progress(siteId, cameraId, stream, fromMs, toMs);
      streams[stream] = { bytes: p.total - p.done, heldAtCentralBytes: p.done, segmentsMissing: p.missing };
    }
    const t = await this.siteTransfer(siteId);
    const link = t.links.find((l) => l.link === t.link) ?? null;
    return { link: t.link, budget: link && link.monthlyBytes ? { monthlyBytes: link.monthlyBytes, usedBytes: link.usedBytes, remainingBytes: link.remainingBytes ?? 0 } : null, streams };
  }

  async siteTransfer(siteId: string) {
    await this.meter.flush();
    const now = this.d.clock.now();
    const month = budgetMonth(now);
    // On the read connections (the writers' queues hold the tick's and the control plane's work), queued together.
    const count = async (sql: string) => Number((await this.d.db.read<{ n: string }>(sql, [siteId]))[0]?.n ?? 0);
    const [central, days, edgeRows, { policy }, items, commits, lost] = await Promise.all([
      this.meter.usage.month(siteId, month, "read"),
      this.meter.usage.days(siteId, now, 31, "read"),
      this.d.db.read<{ month: string; by_link: string; link: string; updated_ms: string }>(`SELECT * FROM tr_edge_usage WHERE site_id = $1`, [siteId]),
      this.inputs.policy(siteId, "read"),
      this.recentPlan(siteId),
      count(`SELECT count(*) AS n FROM tr_commits WHERE site_id = $1`),
      count(`SELECT count(*) AS n FROM tr_lost WHERE site_id = $1`),
    ]);
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
      goodputBytesPerSecond: Math.round(this.meter.goodputOf(siteId) ?? 0),
      /** Receiver counters since central started (all sites). */
      receiver: { ...this.d.receiver.stats },
      commits,
      /** Depot offload (parked on a depot link): state, and when the site last finished one. */
      offload: this.offload.view(siteId, policy),
      /** Segments the edge overwrote before they reached central. */
      lost,
    };
  }

  /** What central holds for a camera (the central timeline's "central" side). */
  async centralRanges(centralId: string, stream: string, fromMs: number, toMs: number): Promise<{ startMs: number; endMs: number }[]> {
    return centralRanges(this.d.store, centralId, stream, fromMs, toMs);
  }
}
