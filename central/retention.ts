/**
 * Retention of central's own store (what central pulled from edges and recorded live): age and
 * bytes per camera like the edge's (config `retention`, shared schema in lib/store), a quota
 * and a free-space floor for the whole store (`storage`). The store's retention never deletes a
 * segment under an unexpired evidence lock (locks made at central are store locks). Every run
 * that deletes writes one audit record per camera (user "system", action "retention") with the
 * window and the bytes deleted, so "where did this footage go" has an answer in the audit log.
 */
import { z } from "zod";
import type { Logger } from "../lib/log/index.ts";
import { RetentionConfig, retentionPolicy, type MediaStore, type RetentionPolicy, type SegmentRecord } from "../lib/store/index.ts";
import type { PrunedCamera } from "./preview/retention.ts";
import type { AuditInput } from "./audit/index.ts";

export const CentralStorageConfig = z
  .strictObject({
    /**
     * Where central's recordings live; default dataDir/store. May be a shared mount (NFS,
     * CephFS): the blob store (lib/blob) fsyncs before rename, which NFS honours only when
     * exported and mounted `sync`. With `index: "database"` several nodes may open it (each retains only its own sites).
     */
    path: z.string().min(1, "storage.path must be a directory path").optional(),
    /**
     * Where the store's segment index lives: "file" (a DuckDB file in the store, one process)
     * or "database" (central's database, tables media_segments/media_gaps, which central nodes
     * share). "file" stays the default until the whole suite has run on "database".
     */
    index: z.enum(["file", "database"]).default("file"),
    /** Quota for all of central's segments; none = the volume is the limit. */
    maxTotalBytes: z.number().int().positive().optional(),
    /** Free space kept on the store's volume (default: the store's, 256 MiB). */
    minFreeBytes: z.number().int().nonnegative().optional(),
    /** How often retention runs. */
    retentionIntervalMs: z.number().int().min(1000).default(60_000),
  })
  .prefault({});
export type CentralStorageConfig = z.infer<typeof CentralStorageConfig>;

export const CentralRetentionConfig = RetentionConfig.extend({
  /** Per site (by site id or name): replaces the central-wide age/bytes for that site's cameras. */
  sites: z.record(z.string().min(1), RetentionConfig).default({}),
})
  .strict()
  .prefault({});
export type CentralRetentionConfig = z.infer<typeof CentralRetentionConfig>;

export interface CentralRetentionDeps {
  store: MediaStore;
  config: CentralRetentionConfig;
  /** A site's name by id (config `sites` may name sites either way). */
  siteName: (siteId: string) => string | undefined;
  audit: (a: AuditInput) => void;
  log: Logger;
  /** Central's previews follow the same policy (central/preview/retention.ts); run after the footage. */
  previews?: (policyOf: (cameraId: string) => RetentionPolicy) => Promise<PrunedCamera[]>;
  /**
   * Sites whose footage and previews this node's retention handles (default all): with several
   * nodes on one store (`storage.index: database`), the owner of the site's partition. The
   * store is opened with the same scope (`ownedCameras`), which its quota pass obeys too.
   */
  owns?: (siteId: string) => boolean;
}

/** A store retention scope from a site ownership test: central camera ids are `<site>.<camera>`. */
export function ownedCameras(owns: (siteId: string) => boolean): (cameraId: string) => boolean {
  return (cameraId) => owns(siteOf(cameraId));
}

/** Central camera ids are `<site>.<camera>`: the site is before the last dot. */
const siteOf = (cameraId: string) => (cameraId.includes(".") ? cameraId.slice(0, cameraId.lastIndexOf(".")) : "");

export class CentralRetention {
  private busy: Promise<{ deleted: number; freedBytes: number }> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly d: CentralRetentionDeps) {}

  policyOf(cameraId: string) {
    const site = siteOf(cameraId);
    const name = site ? this.d.siteName(site) : undefined;
    const per = this.d.config.sites[site] ?? (name ? this.d.config.sites[name] : undefined);
    const { sites: _s, ...all } = this.d.config;
    return retentionPolicy(per ?? all);
  }

  /** One pass now (also what the timer runs); concurrent calls share the pass. */
  run(): Promise<{ deleted: number; freedBytes: number }> {
    this.busy ??= this.d.store
      .enforceRetention((id) => this.policyOf(id))
      .then((r) => {
        if (r.deleted.length) {
          this.auditDeleted(r.deleted);
          this.d.log.info("central retention deleted segments", { segments: r.deleted.length, freedBytes: r.freedBytes });
        }
        return { deleted: r.deleted.length, freedBytes: r.freedBytes };
      })
      .then(async (r) => {
        const owns = this.d.owns;
        const pruned = (await this.d.previews?.((id) => (!owns || owns(siteOf(id)) ? this.policyOf(id) : {})).catch((e) => (this.d.log.error("preview retention failed", { err: e as Error }), []))) ?? [];
        for (const p of pruned) {
          this.d.audit({ user: "system", action: "retention", subject: "central.preview", siteId: p.siteId, cameraId: `${p.siteId}.${p.cameraId}`, fromMs: p.fromMs, toMs: p.toMs, outcome: "ok", detail: { previews: p.previews, bytes: p.bytes } });
        }
        if (pruned.length) this.d.log.info("central retention deleted previews", { cameras: pruned.length, previews: pruned.reduce((a, p) => a + p.previews, 0) });
        return r;
      })
      .finally(() => (this.busy = null));
    return this.busy;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.run().catch((e) => this.d.log.error("central retention failed", { err: e as Error })), intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.busy?.catch(() => undefined);
  }

  private auditDeleted(deleted: SegmentRecord[]): void {
    const byCamera = new Map<string, SegmentRecord[]>();
    for (const s of deleted) byCamera.set(s.cameraId, [...(byCamera.get(s.cameraId) ?? []), s]);
    for (const [cameraId, segs] of byCamera) {
      const p = this.policyOf(cameraId);
      this.d.audit({
        user: "system",
        action: "retention",
        subject: "central.store",
        siteId: siteOf(cameraId) || null,
        cameraId,
        fromMs: Math.min(...segs.map((s) => s.startMs)),
        toMs: Math.max(...segs.map((s) => s.endMs)),
        outcome: "ok",
        detail: { segments: segs.length, bytes: segs.reduce((a, s) => a + s.bytes, 0), ...(p.maxAgeMs !== undefined ? { maxAgeHours: p.maxAgeMs / 3_600_000 } : {}), ...(p.maxBytes !== undefined ? { maxBytes: p.maxBytes } : {}) },
      });
    }
  }
}
