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
import { BudgetView } from "./budget.ts";
import { Planner } from "./planner.ts";
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
  /** What each site should send now (planner.ts). */
  readonly planner: Planner;
  /** Jobs, progress, ETA (retrievals.ts). */
  readonly retrievals: Retrievals;
  /** Cross-site evidence locks (locks.ts). */
  readonly locks: EvidenceLocks;
  /** Event-triggered transfers and the rules' hooks (triggers.ts). */
  readonly triggers: Triggers;
  /** A site's transfer and budget view, retrieval estimates (budget.ts). */
  readonly budget: BudgetView;
  /** Central live recording for the continuous options (live-recording.ts). */
  readonly liveRecording: LiveRecording;

  constructor(private readonly d: EngineDeps) {
    this.inputs = new SiteInputs({ db: d.db, store: d.store, receiver: d.receiver, sites: d.sites, mirror: d.mirror });
    this.meter = new LinkMeter({ db: d.db, clock: d.clock });
    this.offload = new DepotOffload({ db: d.db, clock: d.clock, log: d.log });
    this.deadlines = new OverwriteDeadlines({ db: d.db, clock: d.clock, log: d.log, meter: this.meter, raiseEvent: d.raiseEvent, deadlineMarginMs: d.deadlineMarginMs });
    this.planner = new Planner({ db: d.db, clock: d.clock, inputs: this.inputs, receiver: d.receiver, offload: this.offload, deadlines: this.deadlines });
    this.retrievals = new Retrievals({ db: d.db, clock: d.clock, log: d.log, sites: d.sites, inputs: this.inputs, meter: this.meter, forgetPlan: (id) => this.planner.forget(id), wake: () => this.wake(), attachClip: d.attachClip, settleMs: d.settleMs });
    this.locks = new EvidenceLocks({ db: d.db, store: d.store, clock: d.clock, log: d.log, sites: d.sites, mirror: d.mirror, inputs: this.inputs, retrievals: this.retrievals });
    this.triggers = new Triggers({ sites: d.sites, inputs: this.inputs, retrievals: this.retrievals, locks: this.locks });
    this.budget = new BudgetView({ db: d.db, clock: d.clock, inputs: this.inputs, meter: this.meter, planner: this.planner, offload: this.offload, receiver: d.receiver });
    this.liveRecording = new LiveRecording({ sites: d.sites, inputs: this.inputs, log: d.log, recordLive: d.recordLive });
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
      const items = await this.planner.plan(siteId);
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





  /** What central holds for a camera (the central timeline's "central" side). */
  async centralRanges(centralId: string, stream: string, fromMs: number, toMs: number): Promise<{ startMs: number; endMs: number }[]> {
    return centralRanges(this.d.store, centralId, stream, fromMs, toMs);
  }
}
