/**
 * The edge's long poll (POST /federation/v1/transfer/work): takes in what the edge reports
 * (its link and vehicle state, its own usage count, segments it overwrote before they reached
 * central, the evidence locks it holds), then answers with the planner's items as soon as
 * there are any, or when the poll's wait runs out; a new job, a commit or a policy change
 * wakes it (Waiters). Must not plan (planner.ts) or change jobs.
 */
import { iso, type Clock } from "../../lib/clock.ts";
import { TRANSFER_VERSION, type WorkResponse, WorkRequest as WorkRequestSchema } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import type { OverwriteDeadlines } from "./deadlines.ts";
import { EngineError } from "./errors.ts";
import type { LinkMeter } from "./link-meter.ts";
import type { EvidenceLocks } from "./locks.ts";
import type { DepotOffload } from "./offload.ts";
import type { Planner } from "./planner.ts";

/** Long polls waiting for work; `wake()` lets each plan again at once. */
export class Waiters {
  private waiters = new Set<() => void>();

  wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves after `ms`, or at the next wake. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((r) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        r();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

export interface WorkPollDeps {
  db: Database;
  clock: Clock;
  chunkSize: number;
  meter: LinkMeter;
  offload: DepotOffload;
  deadlines: OverwriteDeadlines;
  locks: EvidenceLocks;
  planner: Planner;
  waiters: Waiters;
  /** False once the engine stopped (or before it starts): polls answer at once. */
  running: () => boolean;
}

export class WorkPoll {
  constructor(private readonly d: WorkPollDeps) {}

  /** The edge's long poll. */
  async work(siteId: string, raw: unknown): Promise<WorkResponse> {
    const p = WorkRequestSchema.safeParse(raw);
    if (!p.success) throw new EngineError(`work request: ${p.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, "invalid");
    const req = p.data;
    const now = this.d.clock.now();
    this.d.meter.observeLink(siteId, req.link);
    this.d.offload.observe(siteId, req.link, req.vehicle);
    await this.d.meter.recordEdgeUsage(siteId, req, now);
    for (const [cam, stream, start] of req.missing) {
      await this.d.db.run(`INSERT INTO tr_lost VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [siteId, cam, stream, start, now]);
      await this.d.deadlines.alarmOnce(`lost/${siteId}/${cam}/${stream}/${Math.floor(start / 60_000)}`, siteId, cam, { state: "lost", detail: `the edge overwrote footage from ${iso(start)} before it reached central`, startMs: start });
    }
    const release = await this.d.locks.releasable(req.locks);
    const end = now + req.waitMs;
    for (;;) {
      const items = await this.d.planner.plan(siteId);
      if (items.length || release.length || this.d.clock.now() >= end || !this.d.running()) {
        return { v: TRANSFER_VERSION, items: items.slice(0, 500).map(({ atRisk: _a, endMs: _e, ...w }) => w), release, chunkSize: this.d.chunkSize };
      }
      await this.d.waiters.wait(Math.min(1000, Math.max(0, end - this.d.clock.now())));
    }
  }
}
