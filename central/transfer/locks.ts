/**
 * Cross-site evidence locks: a lock at central locks central's copy (MediaStore), queues a
 * retrieval of the footage, and sends `evidence-lock` to the edge by the control plane's
 * durable command path; rows in tr_locks. Owns creating, viewing, ending and expiring locks
 * and telling the edge which of its locks it may release. Must not plan transfers or settle
 * the lock's retrieval (retrievals.ts does).
 */
import { iso, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import { centralCameraId, splitCentralCameraId } from "../../federation/protocol/index.ts";
import { effectivePolicy, type TransferClass } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import type { Sites } from "../sites/index.ts";
import type { EdgeIndexReader } from "../mirror/index.ts";
import { EngineError } from "./errors.ts";
import type { Retrievals } from "./retrievals.ts";
import type { SiteInputs } from "./site-inputs.ts";

export interface EvidenceLocksDeps {
  db: Database;
  store: MediaStore;
  clock: Clock;
  log: Logger;
  sites: Sites;
  /** Whether the edge holds a lock (its index, mirrored). */
  mirror: EdgeIndexReader;
  inputs: SiteInputs;
  retrievals: Retrievals;
  /** Whether this node works on the site (its partition's owner, ownership.ts); default every site. */
  owns?: (siteId: string) => boolean;
}

export class EvidenceLocks {
  constructor(private readonly d: EvidenceLocksDeps) {}

  /** `priority` of the retrieval that pulls the locked footage to central (default alarm: rules and evidence hooks). */
  async createLock(l: { cameraId: string; fromMs: number; toMs: number; reason: string; expiresAtMs?: number; by: string; priority?: TransferClass }): Promise<Record<string, unknown>> {
    const parts = splitCentralCameraId(l.cameraId);
    if (!parts) throw new EngineError(`No camera ${l.cameraId} (central camera ids are <site>.<camera>).`, "not-found");
    if (!(l.toMs > l.fromMs)) throw new EngineError("from must be before to.", "invalid");
    const s = this.d.sites;
    // A lock is also a command to the edge and a retrieval from it: neither exists for a revoked site.
    if (!s.siteExists(parts.siteId)) throw new EngineError(`Camera ${l.cameraId} belongs to a revoked site: a lock must reach its edge, so central takes no new ones (what central holds stays playable and exportable).`, "conflict");
    const id = `lk-${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`;
    const now = this.d.clock.now();
    const stream = effectivePolicy((await this.d.inputs.policy(parts.siteId)).policy, parts.cameraId).stream;
    const ret = await this.d.retrievals.createRetrieval({ id: `rt-${id}`, siteId: parts.siteId, cameraId: parts.cameraId, stream, fromMs: l.fromMs, toMs: l.toMs, priority: l.priority ?? "alarm", reason: { lock: id, text: l.reason }, by: l.by });
    await this.d.store.createLock({ id, cameraId: l.cameraId, startMs: l.fromMs, endMs: l.toMs, reason: l.reason, createdBy: l.by, ...(l.expiresAtMs ? { expiresAtMs: l.expiresAtMs } : {}) });
    await this.d.db.run(`INSERT INTO tr_locks VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)`, [id, parts.siteId, parts.cameraId, Math.floor(l.fromMs), Math.ceil(l.toMs), l.reason, l.by, now, l.expiresAtMs ?? null, ret.id]);
    // Durable delivery: the command is re-sent on every reconnect until the edge answers or it expires.
    const ttl = Math.max(3_600_000, (l.expiresAtMs ?? now + 7 * 86_400_000) - now);
    await s.command(parts.siteId, "evidence-lock", { id, cameraId: parts.cameraId, fromMs: Math.floor(l.fromMs), toMs: Math.ceil(l.toMs), reason: l.reason, ...(l.expiresAtMs ? { expiresAtMs: l.expiresAtMs } : {}) }, ttl, l.by, `cmd-${id}`);
    this.d.log.info("evidence lock created", { id, camera: l.cameraId });
    return (await this.lockView(id))!;
  }

  async lockView(id: string): Promise<Record<string, unknown> | null> {
    const r = (await this.d.db.query<Record<string, string | null>>(`SELECT * FROM tr_locks WHERE id = $1`, [id]))[0];
    if (!r) return null;
    const heldAtEdge = await this.d.mirror.hasLock(r.site_id!, id);
    const ret = r.retrieval_id ? await this.d.retrievals.getRetrieval(r.retrieval_id) : null;
    return {
      id,
      cameraId: centralCameraId(r.site_id!, r.camera_id!),
      siteId: r.site_id,
      from: iso(Number(r.from_ms)),
      to: iso(Number(r.to_ms)),
      reason: r.reason,
      createdBy: r.created_by,
      createdAt: iso(Number(r.created_ms)),
      expiresAt: r.expires_ms ? iso(Number(r.expires_ms)) : null,
      endedAt: r.ended_ms ? iso(Number(r.ended_ms)) : null,
      heldAtEdge,
      atCentral: ret?.state === "done" || ret?.state === "partial",
      retrieval: ret ? { id: ret.id, state: ret.state, progress: ret.progress } : null,
    };
  }

  async listLocks(cameraId?: string): Promise<Record<string, unknown>[]> {
    const parts = cameraId ? splitCentralCameraId(cameraId) : null;
    const rows = await this.d.db.query<{ id: string }>(
      parts ? `SELECT id FROM tr_locks WHERE site_id = $1 AND camera_id = $2 ORDER BY created_ms` : `SELECT id FROM tr_locks ORDER BY created_ms`,
      parts ? [parts.siteId, parts.cameraId] : [],
    );
    const out: Record<string, unknown>[] = [];
    for (const r of rows) out.push((await this.lockView(r.id))!);
    return out;
  }

  async endLock(id: string): Promise<Record<string, unknown>> {
    const v = await this.lockView(id);
    if (!v) throw new EngineError(`No evidence lock ${id}.`, "not-found");
    await this.d.db.run(`UPDATE tr_locks SET ended_ms = $2 WHERE id = $1 AND ended_ms IS NULL`, [id, this.d.clock.now()]);
    await this.d.store.deleteLock(id);
    const ret = v.retrieval as { id: string; state: string } | null;
    if (ret && (ret.state === "queued" || ret.state === "running")) await this.d.retrievals.cancelRetrieval(ret.id);
    return (await this.lockView(id))!;
  }

  async expireLocks(now: number): Promise<void> {
    const rows = await this.d.db.query<{ id: string; site_id: string }>(`SELECT id, site_id FROM tr_locks WHERE ended_ms IS NULL AND expires_ms IS NOT NULL AND expires_ms <= $1`, [now]);
    // The site's partition owner ends it (once); the other nodes leave it.
    for (const r of rows) if (!this.d.owns || this.d.owns(r.site_id)) await this.endLock(r.id);
  }

  /** Of the locks the edge holds (its work poll), those it may release: ended, expired, or their footage is at central. */
  async releasable(held: string[]): Promise<string[]> {
    if (!held.length) return [];
    const now = this.d.clock.now();
    const out: string[] = [];
    for (const id of held) {
      const r = (await this.d.db.query<{ ended_ms: string | null; expires_ms: string | null; state: string | null }>(
        `SELECT l.ended_ms, l.expires_ms, r.state FROM tr_locks l LEFT JOIN tr_retrievals r ON r.id = l.retrieval_id WHERE l.id = $1`,
        [id],
      ))[0];
      if (!r || r.ended_ms !== null || (r.expires_ms !== null && Number(r.expires_ms) <= now) || r.state === "done" || r.state === "partial" || r.state === "cancelled") out.push(id);
    }
    return out;
  }
}
