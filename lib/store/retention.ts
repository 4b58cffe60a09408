/**
 * Retention: deletes the oldest segments first — per camera by age and bytes, then store-wide
 * by quota and free-space floor — and never a segment that overlaps an unexpired evidence
 * lock. Files go first (that is what frees space, even when DuckDB itself cannot write),
 * then index rows; recovery drops any row whose file is gone if we stop in between.
 */
import { rmdir, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Clock } from "../clock.ts";
import type { Logger } from "../log/index.ts";
import type { StoreIndex } from "./db.ts";
import type { EvidenceLock, SegmentRecord } from "./types.ts";
import { fsyncDir, previewRelPath } from "./layout.ts";

export interface RetentionPolicy {
  maxAgeMs?: number;
  maxBytes?: number;
}

export interface RetentionHost {
  db: StoreIndex;
  root: string;
  clock: Clock;
  log: Logger;
  maxTotalBytes: number | undefined;
  minFreeBytes: number;
  locks(): EvidenceLock[];
  totalBytes(): number;
  freeBytes(): Promise<number>;
  forget(seg: SegmentRecord): void;
  /**
   * Cameras this store's retention may delete (all when absent). Several central nodes on one
   * store: each deletes only its own sites' footage, so two nodes never run one site's retention.
   */
  scope?: (cameraId: string) => boolean;
  /** What earlier age passes learned (a store that owns its index keeps one); absent = every pass walks. */
  quiet?: AgeQuiet;
}

/**
 * When each camera's age limit can next delete anything. An age pass stops at the first segment
 * that starts after the cutoff: nothing of that camera can expire before that segment's start
 * (or a skipped segment's end, whichever is first) + maxAgeMs, so passes until then skip the
 * camera's index query (~8–9 ms of CPU per camera every storage.retentionIntervalMs). What can
 * make something expire sooner drops the camera's entry: a row that starts before the stop
 * point (an import, rows moved by a clock step), a lock removed or added, another age limit.
 * A pass that kept a locked segment learns nothing (the lock may expire any time). New live
 * segments start after the stop point and leave the entry alone.
 * It also keeps the list of cameras the index holds rows of (a GROUP BY over every row, each
 * pass, before): a row of a camera not in it drops the list.
 */
export class AgeQuiet {
  private byCamera = new Map<string, { maxAgeMs: number; untilMs: number; stopMs: number }>();
  private cameraIds: Set<string> | undefined;

  /** The cameras with rows, as the last query found them and rows since kept them; undefined = ask the index. */
  cameras(): string[] | undefined {
    return this.cameraIds && [...this.cameraIds];
  }

  camerasFound(ids: string[]): void {
    this.cameraIds = new Set(ids);
  }

  /** Whether the camera's age pass can be skipped now. */
  quiet(cameraId: string, maxAgeMs: number, now: number): boolean {
    const q = this.byCamera.get(cameraId);
    return !!q && q.maxAgeMs === maxAgeMs && now < q.untilMs;
  }

  learned(cameraId: string, maxAgeMs: number, earliestMs: number): void {
    this.byCamera.set(cameraId, { maxAgeMs, untilMs: earliestMs + maxAgeMs, stopMs: earliestMs });
  }

  /** A row was written: one starting before the camera's stop point may expire sooner than learned. */
  rowAdded(cameraId: string, startMs: number): void {
    if (!this.cameraIds?.has(cameraId)) this.cameraIds = undefined;
    const q = this.byCamera.get(cameraId);
    if (q && startMs < q.stopMs) this.byCamera.delete(cameraId);
  }

  /** Forget what was learned (one camera, or all: a lock changed). */
  changed(cameraId?: string): void {
    if (cameraId === undefined) this.byCamera.clear();
    else this.byCamera.delete(cameraId);
    if (cameraId !== undefined && !this.cameraIds?.has(cameraId)) this.cameraIds = undefined;
  }
}

const PAGE = 500;
/**
 * The first page of a walk: most passes (every storage.retentionIntervalMs, for every camera
 * with an age limit) stop at the oldest segment or the next few, so 500 index rows were read
 * into objects each time for nothing (measured: ~0.5–1 ms of CPU of a ~9 ms query, 2,880 rows;
 * the query itself is the rest — a pass per camera every 10 s is a fixed cost of its own).
 */
const FIRST_PAGE = 8;

export function isLocked(seg: { cameraId: string; startMs: number; endMs: number }, locks: EvidenceLock[], now: number): boolean {
  return locks.some((l) => l.cameraId === seg.cameraId && (l.expiresAtMs === undefined || l.expiresAtMs > now) && seg.startMs < l.endMs && seg.endMs > l.startMs);
}

/**
 * `policies` null = store-wide limits only (the writer asking for room). `needBytes` = room a
 * pending write needs on top of the limits.
 */
export async function retention(
  h: RetentionHost,
  policies: ((cameraId: string) => { maxAgeMs?: number; maxBytes?: number }) | null,
  needBytes: number,
): Promise<{ deleted: SegmentRecord[]; freedBytes: number }> {
  const now = h.clock.now();
  const locks = h.locks();
  const deleted: SegmentRecord[] = [];
  const dirs = new Set<string>();
  let freed = 0;
  let lockedSkipped = 0;

  const remove = async (s: SegmentRecord): Promise<void> => {
    const abs = join(h.root, s.path);
    try {
      await unlink(abs);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
    }
    // Its preview (thumbnails, activity) goes with it; one left behind is dropped by recovery.
    await unlink(join(h.root, previewRelPath(s.path))).catch(() => undefined);
    dirs.add(dirname(abs));
    try {
      await h.db.deleteSegment(s);
    } catch (e) {
      // Row without file: dropped by recovery at the next start. Space is what matters now.
      h.log.error("index row of a deleted segment not removed", { err: e as Error, path: s.path });
    }
    h.forget(s);
    freed += s.bytes;
    deleted.push(s);
  };

  /** Walks segments oldest first (one camera or all), calling `want` until it says stop. */
  const walk = async (cameraId: string | null, want: (s: SegmentRecord) => "delete" | "skip" | "stop"): Promise<void> => {
    const seen = new Set<string>();
    let cursor = -Infinity;
    let limit = FIRST_PAGE;
    for (;;) {
      const rows = await h.db.oldest(cameraId, limit, cursor === -Infinity ? Number.MIN_SAFE_INTEGER : cursor - 1);
      const page = rows.filter((s) => !seen.has(s.id));
      const full = rows.length === limit;
      const wasFirst = limit < PAGE;
      limit = PAGE;
      // A small first page wholly seen again (segments sharing one start): read on with full pages.
      if (!page.length) {
        if (full && wasFirst) continue;
        return;
      }
      for (const s of page) {
        seen.add(s.id);
        cursor = s.startMs;
        if (h.scope && !h.scope(s.cameraId)) continue;
        if (isLocked(s, locks, now)) {
          lockedSkipped++;
          continue;
        }
        const w = want(s);
        if (w === "stop") return;
        if (w === "delete") await remove(s);
      }
    }
  };

  if (policies) {
    let cameraIds = h.quiet?.cameras();
    if (!cameraIds) {
      cameraIds = (await cameraTotals(h.db)).map((c) => c.cameraId);
      h.quiet?.camerasFound(cameraIds);
    }
    for (const cameraId of cameraIds) {
      const cam = { cameraId };
      if (h.scope && !h.scope(cam.cameraId)) continue;
      const p = policies(cam.cameraId) ?? {};
      if (p.maxAgeMs !== undefined && p.maxAgeMs >= 0 && !h.quiet?.quiet(cam.cameraId, p.maxAgeMs, now)) {
        const cutoff = now - p.maxAgeMs;
        const lockedBefore = lockedSkipped;
        let earliest = Infinity;
        await walk(cam.cameraId, (s) => {
          if (s.startMs >= cutoff) {
            earliest = Math.min(earliest, s.startMs);
            return "stop";
          }
          if (s.endMs <= cutoff) return "delete";
          earliest = Math.min(earliest, s.endMs);
          return "skip";
        });
        if (lockedSkipped === lockedBefore) h.quiet?.learned(cam.cameraId, p.maxAgeMs, earliest);
      }
      if (p.maxBytes !== undefined && p.maxBytes >= 0) {
        let bytes = (await cameraTotals(h.db)).find((c) => c.cameraId === cam.cameraId)?.bytes ?? 0;
        await walk(cam.cameraId, (s) => {
          if (bytes <= p.maxBytes!) return "stop";
          bytes -= s.bytes;
          return "delete";
        });
      }
    }
  }

  let free = await h.freeBytes();
  const freeAtStart = free;
  const over = () =>
    (h.maxTotalBytes !== undefined && h.totalBytes() + needBytes > h.maxTotalBytes) || freeAtStart + freed < h.minFreeBytes + needBytes;
  if (over()) {
    await walk(null, () => (over() ? "delete" : "stop"));
  }
  for (const d of dirs) {
    await fsyncDir(d).catch(() => undefined);
    // Empty day directories go too; ENOTEMPTY simply means footage is left.
    if (await rmdir(d).then(() => true, () => false)) await fsyncDir(dirname(d)).catch(() => undefined);
  }
  free = await h.freeBytes();
  if (deleted.length) {
    h.log.info("retention deleted segments", { count: deleted.length, freedBytes: freed, lockedKept: lockedSkipped, volumeFreeBytes: free });
  }
  return { deleted, freedBytes: freed };
}

function cameraTotals(db: StoreIndex): Promise<{ cameraId: string; bytes: number }[]> {
  return db.bytesByCamera();
}
