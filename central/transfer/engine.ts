/**
 * The transfer engine at central, as a composition: builds the parts in dependency order —
 * each gets what it needs in its constructor — and runs the tick that settles jobs, expires
 * locks, keeps central's live recordings in line with the policies and flushes byte counts.
 * Holds no logic of its own; must not grow any (a new concern gets its own file). Parts:
 *
 *   site-inputs.ts    a site's policy, cameras, edge index; held/wanted/lost (central/holdings); job progress
 *   link-meter.ts     the edge's link, bytes received per link/day, goodput, expected rate
 *   receiver.ts       resumable, verified uploads into central's MediaStore
 *   deadlines.ts      overwrite deadlines, footage.at-risk events
 *   planner.ts        what a site should send now; the last plan per site
 *   retrievals.ts     jobs: create, list, cancel, progress, ETA, settle
 *   locks.ts          cross-site evidence locks
 *   triggers.ts       on-event retrievals, the rules' hooks
 *   live-recording.ts central live recording for the continuous options
 *   budget.ts         a site's transfer/budget view, retrieval estimates
 *   poll.ts           the edge's long poll
 *   offload.ts        depot offload per site
 *   ownership.ts      the sites this node works on (partition owner); taking over a site's jobs
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import type { Database } from "../db/index.ts";
import type { Sites } from "../sites/index.ts";
import type { EdgeIndexReader } from "../mirror/index.ts";
import type { ImportVerifier } from "../custody/index.ts";
import { BudgetView } from "./budget.ts";
import { OverwriteDeadlines, type RaiseEvent } from "./deadlines.ts";
import { LinkMeter } from "./link-meter.ts";
import { LiveRecording, type RecordLive } from "./live-recording.ts";
import { EvidenceLocks } from "./locks.ts";
import { DepotOffload } from "./offload.ts";
import { Planner } from "./planner.ts";
import { Waiters, WorkPoll } from "./poll.ts";
import { Receiver } from "./receiver.ts";
import type { CentralMedia } from "../media/index.ts";
import { Retrievals, type AttachClip } from "./retrievals.ts";
import { SiteInputs } from "./site-inputs.ts";
import { Triggers } from "./triggers.ts";
import { EVERY_SITE, RetrievalOwnership, type SiteOwnership } from "./ownership.ts";

/** How often the tick writes the byte counts and re-reads the depot offloads other nodes finished (real time). */
const FLUSH_EVERY_MS = 2000;

export interface EngineDeps {
  db: Database;
  store: MediaStore;
  clock: Clock;
  log: Logger;
  chunkSize: number;
  /** Partial uploads (<dataDir>/transfer/partial). */
  partialDir: string;
  /** Checks every upload's custody proof when given (central/custody). */
  custody?: ImportVerifier;
  /** storage.index database: the receiver commits through central/media (exactly once by row key). */
  media?: Pick<CentralMedia, "commit">;
  /** The control plane: cameras, policies (desired config), commands, link state. */
  sites: Sites;
  /** The edges' index as central mirrors it (central/mirror): what each edge holds. */
  mirror: EdgeIndexReader;
  /** Raise an event at central (ops.ingestEvent): footage at risk/lost. */
  raiseEvent?: RaiseEvent;
  attachClip?: AttachClip;
  recordLive?: RecordLive;
  /** Margin before the edge overwrites footage within which a job counts as at risk. */
  deadlineMarginMs?: number;
  /** A window is complete this long after its end even if the edge index never reaches it. */
  settleMs?: number;
  /** Which sites' jobs this node works on (central/cluster's leases); default every site. */
  ownership?: SiteOwnership;
}

export class Engine {
  readonly meter: LinkMeter;
  readonly receiver: Receiver;
  readonly inputs: SiteInputs;
  readonly offload: DepotOffload;
  readonly deadlines: OverwriteDeadlines;
  readonly planner: Planner;
  readonly retrievals: Retrievals;
  readonly locks: EvidenceLocks;
  readonly triggers: Triggers;
  readonly liveRecording: LiveRecording;
  readonly budget: BudgetView;
  readonly poll: WorkPoll;
  readonly ownership: RetrievalOwnership;
  private readonly waiters = new Waiters();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Shutdown began: long polls answer at once (central closes its databases next). */
  private ending = false;
  private ticking = false;
  private flushedAt = 0;

  constructor(private readonly d: EngineDeps) {
    const { db, store, clock, log, sites, mirror } = d;
    const own = d.ownership ?? EVERY_SITE;
    const owns = (siteId: string) => own.owns(siteId);
    this.meter = new LinkMeter({ db, clock });
    this.receiver = new Receiver({ dir: d.partialDir, store, db, clock, log, ...(d.custody ? { custody: d.custody } : {}), ...(d.media ? { media: d.media } : {}), onBytes: (site, link, n) => this.meter.received(site, link, n), onCommit: () => this.wake() });
    this.inputs = new SiteInputs({ db, store, receiver: this.receiver, sites, mirror });
    this.offload = new DepotOffload({ db, clock, log });
    this.deadlines = new OverwriteDeadlines({ db, clock, log, meter: this.meter, raiseEvent: d.raiseEvent, deadlineMarginMs: d.deadlineMarginMs });
    this.planner = new Planner({ db, clock, inputs: this.inputs, receiver: this.receiver, offload: this.offload, deadlines: this.deadlines });
    this.retrievals = new Retrievals({ db, clock, log, sites, inputs: this.inputs, meter: this.meter, forgetPlan: (id) => this.planner.forget(id), wake: () => this.wake(), attachClip: d.attachClip, settleMs: d.settleMs, owns });
    this.locks = new EvidenceLocks({ db, store, clock, log, sites, mirror, inputs: this.inputs, retrievals: this.retrievals, owns });
    this.triggers = new Triggers({ sites, inputs: this.inputs, retrievals: this.retrievals, locks: this.locks });
    this.liveRecording = new LiveRecording({ sites, inputs: this.inputs, log, recordLive: d.recordLive, owns });
    this.budget = new BudgetView({ db, clock, inputs: this.inputs, meter: this.meter, planner: this.planner, offload: this.offload, receiver: this.receiver });
    this.poll = new WorkPoll({ db, clock, chunkSize: d.chunkSize, meter: this.meter, offload: this.offload, deadlines: this.deadlines, locks: this.locks, planner: this.planner, waiters: this.waiters, running: () => this.timer !== null && !this.ending });
    this.ownership = new RetrievalOwnership({ db, ownership: own, log, replan: (siteId) => this.replan(siteId), forget: (siteId) => this.planner.forget(siteId) });
  }

  /** A site this node just took over: plan it again now, settle its jobs, let its edge's poll see the plan. */
  private async replan(siteId: string): Promise<void> {
    this.planner.forget(siteId);
    await this.planner.plan(siteId);
    await this.retrievals.settleActive(this.d.clock.now(), siteId);
    this.wake();
  }

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.ownership.start();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ownership.stop();
    this.waiters.wake();
    await this.liveRecording.stopAll();
    await this.meter.flush();
  }

  /** Shutdown: every long poll answers now with what there is, rather than holding its request open. */
  endLongPolls(): void {
    this.ending = true;
    this.wake();
  }

  /** Let waiting long polls plan again now (a job, a commit, a policy changed). */
  wake(): void {
    this.waiters.wake();
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
      // Byte counts every few ticks, not at each (views and stop flush first, so they stay exact).
      if (performance.now() - this.flushedAt >= FLUSH_EVERY_MS) {
        this.flushedAt = performance.now();
        await this.meter.flush();
        await this.offload.load(); // offloads other nodes finished (the edge's polls may reach any node)
      }
    } catch (e) {
      this.d.log.error("transfer tick failed", { err: e as Error });
    } finally {
      this.ticking = false;
    }
  }
}
