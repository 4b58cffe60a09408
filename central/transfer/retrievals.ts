/**
 * Retrievals: jobs that pull a window of one camera stream from its edge (users, playback,
 * rules, events, evidence locks, exports) — rows in tr_retrievals that survive restarts. Owns
 * creating, listing and cancelling them, their view (progress from site-inputs.ts, ETA from
 * the measured goodput) and settling them (running → done/partial, the alarm clip). Must not
 * plan what the edge sends (planner.ts reads the active jobs) nor decide what central holds.
 */
import { iso, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { StreamKind } from "../../lib/store/index.ts";
import { centralCameraId } from "../../federation/protocol/index.ts";
import { effectivePolicy, type TransferClass } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import type { Sites } from "../sites/index.ts";
import { ACTIVE } from "./db.ts";
import { EngineError } from "./errors.ts";
import type { LinkMeter } from "./link-meter.ts";
import { qualityOf, setQuality, type RetrievalQuality } from "./progressive.ts";
import type { SiteInputs } from "./site-inputs.ts";

export type RetrievalState = "queued" | "running" | "done" | "partial" | "cancelled" | "failed";

export interface RetrievalView {
  id: string;
  siteId: string;
  cameraId: string;
  camera: string;
  stream: StreamKind;
  from: string;
  to: string;
  priority: TransferClass;
  /** main, or sub-then-main (progressive.ts). */
  quality: RetrievalQuality;
  state: RetrievalState;
  bytesDone: number;
  bytesTotal: number;
  progress: number;
  etaSeconds: number | null;
  atRisk: boolean;
  reason: unknown;
  createdBy: string;
  createdAt: string;
  doneAt: string | null;
  detail: string | null;
}

/** Tell alarms a retrieval's clip is ready, partial or failed (ops.alarms.attachClip). */
export type AttachClip = (retrievalId: string, clip: { state: "ready" | "partial" | "failed"; url?: string; detail?: string }) => Promise<unknown>;

export interface RetrievalsDeps {
  db: Database;
  clock: Clock;
  log: Logger;
  sites: Sites;
  inputs: SiteInputs;
  meter: LinkMeter;
  /** A job started or ended: the site's cached plan is stale (planner.ts). */
  forgetPlan: (siteId: string) => void;
  /** Wake the edges' long polls (poll.ts). */
  wake: () => void;
  attachClip?: AttachClip;
  /** A window is complete this long after its end even if the edge index never reaches it. */
  settleMs?: number;
  /** Whether this node works on the site's jobs (its partition's owner, ownership.ts); default every site. */
  owns?: (siteId: string) => boolean;
}

export class Retrievals {
  private readonly settle: number;

  constructor(private readonly d: RetrievalsDeps) {
    this.settle = d.settleMs ?? 60_000;
  }

  async createRetrieval(r: { id?: string; siteId: string; cameraId: string; stream: StreamKind; fromMs: number; toMs: number; priority: TransferClass; reason: unknown; by: string; quality?: RetrievalQuality }): Promise<RetrievalView> {
    const s = this.d.sites;
    if (!s.siteExists(r.siteId)) throw new EngineError(`No site with id ${r.siteId}.`, "not-found");
    if (!(await this.d.inputs.siteCameras(r.siteId)).includes(r.cameraId)) throw new EngineError(`No camera ${centralCameraId(r.siteId, r.cameraId)} (central camera ids are <site>.<camera>).`, "not-found");
    if (!(r.toMs > r.fromMs)) throw new EngineError("from must be before to.", "invalid");
    if (r.toMs - r.fromMs > 31 * 86_400_000) throw new EngineError("A retrieval covers at most 31 days.", "invalid");
    const { policy } = await this.d.inputs.policy(r.siteId);
    if (effectivePolicy(policy, r.cameraId).options.includes("none")) throw new EngineError(`Camera ${centralCameraId(r.siteId, r.cameraId)} has the recording option "none": the edge records nothing to retrieve.`, "conflict");
    const id = r.id ?? `rt-${crypto.randomUUID()}`;
    const existing = await this.getRetrieval(id);
    if (existing) return existing;
    await this.d.db.transaction(async (tx) => {
      await tx.run(`INSERT INTO tr_retrievals VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', NULL, NULL)`, [
        id,
        r.siteId,
        r.cameraId,
        r.stream,
        Math.floor(r.fromMs),
        Math.ceil(r.toMs),
        r.priority,
        JSON.stringify(r.reason ?? null),
        r.by,
        this.d.clock.now(),
      ]);
      await setQuality(tx, id, r.quality ?? "main");
    });
    this.d.log.info("retrieval queued", { id, site: r.siteId, camera: r.cameraId, priority: r.priority });
    this.d.forgetPlan(r.siteId);
    this.d.wake();
    return (await this.getRetrieval(id))!;
  }

  async getRetrieval(id: string): Promise<RetrievalView | null> {
    const r = (await this.d.db.query<Record<string, string | null>>(`SELECT * FROM tr_retrievals WHERE id = $1`, [id]))[0];
    return r ? this.view(r) : null;
  }

  /** Retrievals per state, across all sites (metrics). */
  async retrievalCounts(): Promise<Record<string, number>> {
    const rows = await this.d.db.query<{ state: string; n: string }>(`SELECT state, count(*) AS n FROM tr_retrievals GROUP BY state`);
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  async listRetrievals(f: { siteId?: string; cameraId?: string; state?: string; limit?: number }): Promise<RetrievalView[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (f.siteId) where.push(`site_id = $${params.push(f.siteId)}`);
    if (f.cameraId) where.push(`camera_id = $${params.push(f.cameraId)}`);
    if (f.state) where.push(`state = $${params.push(f.state)}`);
    const rows = await this.d.db.query<Record<string, string | null>>(
      `SELECT * FROM tr_retrievals ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_ms DESC LIMIT $${params.length + 1}`,
      [...params, Math.min(f.limit ?? 500, 5000)],
    );
    const out: RetrievalView[] = [];
    for (const r of rows) out.push(await this.view(r));
    return out;
  }

  async cancelRetrieval(id: string): Promise<RetrievalView> {
    const cur = await this.getRetrieval(id);
    if (!cur) throw new EngineError(`No retrieval ${id}.`, "not-found");
    if (cur.state === "queued" || cur.state === "running") {
      await this.d.db.run(`UPDATE tr_retrievals SET state = 'cancelled', done_ms = $2 WHERE id = $1`, [id, this.d.clock.now()]);
      this.d.forgetPlan(cur.siteId);
      await this.d.attachClip?.(id, { state: "failed", detail: "retrieval cancelled" }).catch(() => undefined);
    }
    return (await this.getRetrieval(id))!;
  }

  private async view(r: Record<string, string | null>): Promise<RetrievalView> {
    const siteId = r.site_id!;
    const cameraId = r.camera_id!;
    const stream = r.stream as StreamKind;
    const fromMs = Number(r.from_ms);
    const toMs = Number(r.to_ms);
    const state = r.state as RetrievalState;
    const p = await this.d.inputs.progress(siteId, cameraId, stream, fromMs, toMs);
    const active = state === "queued" || state === "running";
    // ETA from the link's measured goodput (never from its cap); unknown until bytes move.
    const bps = this.d.meter.goodputOf(siteId) ?? 0;
    const cid = centralCameraId(siteId, cameraId);
    return {
      id: r.id!,
      siteId,
      cameraId: cid,
      camera: cid,
      stream,
      from: iso(fromMs),
      to: iso(toMs),
      priority: r.priority as TransferClass,
      quality: await qualityOf(this.d.db, r.id!),
      state,
      bytesDone: p.done,
      bytesTotal: p.total,
      progress: p.total ? Math.round((1000 * p.done) / p.total) / 10 : state === "done" ? 100 : 0,
      etaSeconds: active && bps > 1000 ? Math.ceil((p.total - p.done) / bps) : null,
      atRisk: false,
      reason: JSON.parse(r.reason ?? "null") as unknown,
      createdBy: r.created_by ?? "",
      createdAt: iso(Number(r.created_ms)),
      doneAt: r.done_ms ? iso(Number(r.done_ms)) : null,
      detail: r.detail ?? null,
    };
  }

  /** Moves active retrievals of the sites this node owns to running/done/partial (the engine's tick). */
  async settleActive(now: number, siteId?: string): Promise<void> {
    const rows = await this.d.db.query<Record<string, string>>(
      siteId === undefined ? `SELECT * FROM tr_retrievals WHERE state IN ${ACTIVE}` : `SELECT * FROM tr_retrievals WHERE state IN ${ACTIVE} AND site_id = $1`,
      siteId === undefined ? [] : [siteId],
    );
    for (const r of rows) {
      // Another node owns the site's partition: it settles the job (and attaches its clip) once.
      if (this.d.owns && !this.d.owns(r.site_id!)) continue;
      const stream = r.stream as StreamKind;
      const p = await this.d.inputs.progress(r.site_id!, r.camera_id!, stream, Number(r.from_ms), Number(r.to_ms));
      // The edge index must reach the window's end; else (camera stopped, nothing recorded) central
      // must have committed a health report the edge made well after the window ended. The edge's
      // messages share one ordered sequence, so every index row the edge wrote before that report
      // is in the mirror by then — however far central's mirror lags (a wall-clock wait alone
      // settled windows as "recorded nothing" while their rows were still queued).
      const since = this.onlineSince(r.site_id!, now);
      const reportedAt = this.d.sites.control?.latestHealth.get(r.site_id!)?.atMs ?? 0;
      const settled = (await this.d.inputs.mirrorEnd(r.site_id!, r.camera_id!, stream)) >= Number(r.to_ms) || (since !== null && now > Number(r.to_ms) + this.settle && reportedAt >= Number(r.to_ms) + this.settle);
      if (p.missing === 0 && settled) {
        const state = p.lost ? "partial" : "done";
        const detail = p.lost ? `${p.lost} segment(s) were overwritten at the edge before they reached central` : p.total === 0 ? "the edge recorded nothing in this window" : null;
        // Conditional: of two nodes settling one job during a handover, one finishes it (and attaches its clip).
        if (!(await this.d.db.run(`UPDATE tr_retrievals SET state = $2, done_ms = $3, detail = $4 WHERE id = $1 AND state IN ${ACTIVE}`, [r.id!, state, now, detail]))) continue;
        this.d.log.info("retrieval finished", { id: r.id, state, bytes: p.total });
        this.d.forgetPlan(r.site_id!);
        const url = `/api/v1/cameras/${encodeURIComponent(centralCameraId(r.site_id!, r.camera_id!))}/video?from=${iso(Number(r.from_ms))}&to=${iso(Number(r.to_ms))}&stream=${stream}`;
        await this.d.attachClip?.(r.id!, { state: p.lost ? "partial" : "ready", url, ...(detail ? { detail } : {}) }).catch((e) => this.d.log.error("attachClip failed", { err: e as Error }));
        this.d.wake();
      } else if (r.state === "queued" && p.done > 0) {
        await this.d.db.run(`UPDATE tr_retrievals SET state = 'running' WHERE id = $1 AND state = 'queued'`, [r.id!]);
      }
    }
  }

  private readonly online = new Map<string, number>();
  private onlineSince(siteId: string, now: number): number | null {
    if (!this.d.sites.online(siteId)) {
      this.online.delete(siteId);
      return null;
    }
    if (!this.online.has(siteId)) this.online.set(siteId, now);
    return this.online.get(siteId)!;
  }
}
