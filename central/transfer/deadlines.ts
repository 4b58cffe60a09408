/**
 * Overwrite deadlines: walks a site's planned queue at the expected rate (link-meter.ts) and
 * raises to `request` (flagged at risk) whatever would reach central later than the edge's
 * overwrite time minus the margin; footage that will be lost even so, or that the edge
 * reported lost, raises one `footage.at-risk` event per camera-minute (tr_alarms) through
 * ops. Must not choose what is planned (planner.ts) nor touch jobs.
 */
import { iso, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { centralCameraId } from "../../federation/protocol/index.ts";
import { classRank, type SitePolicy, type WorkItem } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import type { LinkMeter } from "./link-meter.ts";

/** Raise an event at central (ops.ingestEvent): footage at risk/lost. */
export type RaiseEvent = (e: { id: string; type: string; time: string; source: "system"; origin: string; siteId: string; cameraId: string | null; data: Record<string, unknown> }) => Promise<unknown>;

export interface DeadlinesDeps {
  db: Database;
  clock: Clock;
  log: Logger;
  meter: LinkMeter;
  raiseEvent?: RaiseEvent;
  /** Margin before the edge overwrites footage within which a job counts as at risk. */
  deadlineMarginMs?: number;
}

export class OverwriteDeadlines {
  private readonly margin: number;

  constructor(private readonly d: DeadlinesDeps) {
    this.margin = d.deadlineMarginMs ?? 120_000;
  }

  /** `items` sorted by `order` (the planner's); re-sorted when something was raised. */
  async walk(siteId: string, policy: SitePolicy | null, items: (WorkItem & { atRisk: boolean })[], now: number, order: (a: WorkItem, b: WorkItem) => number): Promise<void> {
    // Overwrite deadlines: walk the queue at the expected rate; whatever would arrive after the
    // edge overwrites it moves up to "request" (above events, schedules and backfill).
    const bps = await this.d.meter.expectedRate(siteId, policy);
    let t = now;
    let raised = false;
    for (const it of items) {
      t += ((it.bytes - it.offset) * 1000) / bps;
      if (it.deadlineMs !== null && t + this.margin > it.deadlineMs && classRank(it.cls) < classRank("request")) {
        it.cls = "request";
        it.atRisk = true;
        raised = true;
      }
    }
    if (raised) items.sort(order);
    t = now;
    for (const it of items) {
      t += ((it.bytes - it.offset) * 1000) / bps;
      if (it.deadlineMs !== null && t > it.deadlineMs) {
        it.atRisk = true;
        await this.alarmOnce(`risk/${siteId}/${it.cameraId}/${it.stream}/${Math.floor(it.startMs / 60_000)}`, siteId, it.cameraId, {
          state: "will-be-lost",
          detail: `the edge is expected to overwrite footage from ${iso(it.startMs)} at ${iso(it.deadlineMs)}, before it can reach central at the current rate`,
          startMs: it.startMs,
          deadline: iso(it.deadlineMs),
        });
      }
    }
  }

  /** One footage.at-risk event per key (camera-minute), ever: tr_alarms remembers it across restarts. */
  async alarmOnce(key: string, siteId: string, cameraId: string, data: Record<string, unknown>): Promise<void> {
    // The insert decides (not a read before it): of two nodes walking the same site, one raises.
    if (!(await this.d.db.run(`INSERT INTO tr_alarms VALUES ($1, $2) ON CONFLICT DO NOTHING`, [key, this.d.clock.now()]))) return;
    this.d.log.warn("footage at risk", { site: siteId, camera: cameraId, ...data });
    await this.d.raiseEvent?.({
      id: `transfer:${key}`,
      type: "footage.at-risk",
      time: iso(this.d.clock.now()),
      source: "system",
      origin: "central.transfer",
      siteId,
      cameraId: centralCameraId(siteId, cameraId),
      data,
    }).catch((e) => this.d.log.error("could not raise the footage-at-risk event", { err: e as Error }));
  }
}
