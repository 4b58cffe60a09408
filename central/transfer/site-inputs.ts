/**
 * The reads every transfer part shares, for one site: its policy and cameras (the control
 * plane), the segments its edge holds (the index mirror), what central holds of a window
 * (central/holdings — the one place that decides held) with the segments the edge reported
 * lost (tr_lost), and how much of a window is at central (job progress). Writes nothing and
 * must not compute holdings itself.
 */
import type { MediaStore, StreamKind } from "../../lib/store/index.ts";
import { centralCameraId } from "../../federation/protocol/index.ts";
import type { SitePolicy } from "../../federation/transfer/index.ts";
import type { Database } from "../db/index.ts";
import type { Sites } from "../sites/index.ts";
import type { EdgeIndexReader } from "../mirror/index.ts";
import { holdings } from "../holdings/index.ts";
import type { Receiver } from "./receiver.ts";

/** An edge segment as the mirror lists it. */
export interface Seg {
  cameraId: string;
  stream: StreamKind;
  startMs: number;
  endMs: number;
  bytes: number;
}

export interface SiteInputsDeps {
  db: Database;
  store: MediaStore;
  receiver: Receiver;
  sites: Sites;
  /** The edges' index as central mirrors it (central/mirror): what each edge holds. */
  mirror: EdgeIndexReader;
}

/**
 * How long a camera stream's lost segments are reused before they are read again. Every work
 * poll plans (back to back while the edge is busy) and the embedded database runs on central's
 * event loop: re-reading tr_lost at each plan cost more than the plan. A segment lost meanwhile
 * is at worst offered once more; the edge reports it missing again.
 */
const LOST_TTL_MS = 2000;

export class SiteInputs {
  private readonly lost = new Map<string, { at: number; starts: Promise<Set<number>> }>();

  constructor(private readonly d: SiteInputsDeps) {}

  /** The starts of a camera stream's segments the edge reported lost (tr_lost), at most LOST_TTL_MS old. */
  private lostStarts(siteId: string, cameraId: string, stream: StreamKind): Promise<Set<number>> {
    const k = `${siteId}\u0000${cameraId}\u0000${stream}`;
    const now = performance.now();
    const c = this.lost.get(k);
    if (c && now - c.at < LOST_TTL_MS) return c.starts;
    const starts = this.d.db.query<{ s: number }>(`SELECT start_ms AS s FROM tr_lost WHERE site_id = $1 AND camera_id = $2 AND stream = $3`, [siteId, cameraId, stream]).then((rows) => new Set(rows.map((r) => Number(r.s))));
    this.lost.set(k, { at: now, starts });
    starts.catch(() => this.lost.delete(k));
    return starts;
  }

  async policy(siteId: string): Promise<{ policy: SitePolicy | null; sinceMs: number }> {
    const v = await this.d.sites.configView(siteId);
    const cfg = (v.desired?.config ?? {}) as { policy?: SitePolicy };
    return { policy: cfg.policy ?? null, sinceMs: v.desired ? Date.parse(v.desired.createdAt) : 0 };
  }

  /** policy() of many sites in one statement (the policy only): live recording's tick over this node's sites. */
  async policies(siteIds: readonly string[]): Promise<Map<string, SitePolicy | null>> {
    const configs = await this.d.sites.desiredConfigs(siteIds);
    return new Map(siteIds.map((id) => [id, ((configs.get(id) ?? {}) as { policy?: SitePolicy }).policy ?? null]));
  }

  async siteCameras(siteId: string): Promise<string[]> {
    if (!this.d.sites.siteActive(siteId)) return [];
    return [...((await this.d.sites.camerasBySite()).get(siteId) ?? [])];
  }

  /** Plans read the mirror on its read connection: committed rows, without waiting behind control-plane batches. */
  async mirrorSegs(siteId: string, cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<Seg[]> {
    return (await this.d.mirror.segments(siteId, cameraId, stream, fromMs, toMs)).map((r) => ({ cameraId, stream, ...r }));
  }

  mirrorEnd(siteId: string, cameraId: string, stream: StreamKind): Promise<number> {
    return this.d.mirror.indexEnd(siteId, cameraId, stream);
  }

  horizon(siteId: string, cameraId: string, stream: StreamKind): Promise<number | null> {
    return this.d.mirror.horizon(siteId, cameraId, stream);
  }

  /** What central holds around a window (central/holdings), plus the segments the edge reported lost. */
  async heldAt(siteId: string, cameraId: string, stream: StreamKind, fromMs: number, toMs: number) {
    const h = await holdings(this.d.store, centralCameraId(siteId, cameraId), stream, fromMs, toMs);
    const lostSet = await this.lostStarts(siteId, cameraId, stream);
    return {
      has: (s: Seg): boolean => h.has(s),
      /** Neither held nor on its way by live: the edge must send it. */
      wanted: (s: Seg): boolean => !h.has(s) && !lostSet.has(s.startMs) && !h.awaitingLive(s),
      lost: (s: Seg): boolean => lostSet.has(s.startMs),
    };
  }

  /** How much of an edge window central holds: bytes (whole segments, plus partial uploads), segments missing and lost. */
  async progress(siteId: string, cameraId: string, stream: StreamKind, fromMs: number, toMs: number) {
    const segs = await this.mirrorSegs(siteId, cameraId, stream, fromMs, toMs);
    if (!segs.length) return { total: 0, done: 0, missing: 0, lost: 0 };
    const h = await this.heldAt(siteId, cameraId, stream, segs[0]!.startMs, segs[segs.length - 1]!.endMs);
    let total = 0;
    let done = 0;
    let missing = 0;
    let lost = 0;
    for (const s of segs) {
      total += s.bytes;
      if (h.has(s)) done += s.bytes;
      else if (h.lost(s)) lost++;
      else {
        missing++;
        done += await this.d.receiver.offsetOf(siteId, cameraId, stream, s.startMs, s.bytes);
      }
    }
    return { total, done, missing, lost };
  }
}
