/**
 * Retention's walk over the index, against an in-memory index: the same segments go as by a
 * plain model (oldest first, locks kept), and a pass with nothing or little to delete reads a
 * few rows, not a page of 500 (it runs for every camera every storage.retentionIntervalMs).
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import type { StoreIndex } from "./db.ts";
import { retention } from "./retention.ts";
import type { EvidenceLock, SegmentRecord, StreamKind } from "./types.ts";

function memoryIndex(segs: SegmentRecord[]) {
  const rows = [...segs].sort((a, b) => a.startMs - b.startMs || a.cameraId.localeCompare(b.cameraId) || a.stream.localeCompare(b.stream));
  const stats = { rowsRead: 0 };
  const db = {
    async oldest(cameraId: string | null, limit: number, afterStartMs: number) {
      const page = rows.filter((s) => (cameraId === null || s.cameraId === cameraId) && s.startMs > afterStartMs).slice(0, limit);
      stats.rowsRead += page.length;
      return page.map((s) => ({ ...s }));
    },
    async bytesByCamera() {
      const by = new Map<string, number>();
      for (const s of rows) by.set(s.cameraId, (by.get(s.cameraId) ?? 0) + s.bytes);
      return [...by].map(([cameraId, bytes]) => ({ cameraId, bytes }));
    },
    async deleteSegment(s: SegmentRecord) {
      rows.splice(rows.findIndex((r) => r.id === s.id), 1);
    },
  };
  return { db: db as unknown as StoreIndex, rows, stats };
}

const seg = (cameraId: string, stream: StreamKind, startMs: number): SegmentRecord => ({ id: `${cameraId}/${stream}/${startMs}`, cameraId, stream, startMs, endMs: startMs + 60_000, bytes: 1000, path: `nowhere/${cameraId}-${stream}-${startMs}.mp4`, mime: "video/mp4" });

function host(db: StoreIndex, now: number, locks: EvidenceLock[] = []) {
  return {
    db, root: "/nonexistent-retention-test", clock: new ManualClock(now), log: new Logger({ component: "retention", sink: new MemorySink() }),
    maxTotalBytes: undefined, minFreeBytes: 0, locks: () => locks, totalBytes: () => 0, freeBytes: async () => 1e12, forget: () => undefined,
  };
}

test("an age-limit pass with nothing (or one segment) to delete reads a few index rows, not a page of 500", async () => {
  const now = 1_000 * 60_000;
  const segs = Array.from({ length: 900 }, (_, i) => seg("cam1", i % 2 ? "sub" : "main", (100 + (i >> 1)) * 60_000));
  const { db, stats } = memoryIndex(segs);
  const policy = () => ({ maxAgeMs: now }); // everything is younger than the limit
  await retention(host(db, now), policy, 0);
  expect(stats.rowsRead).toBeLessThanOrEqual(8);
  stats.rowsRead = 0;
  const r = await retention(host(db, now), () => ({ maxAgeMs: now - 101.5 * 60_000 }), 0); // the cutoff at 101.5 min: the two oldest (100–101 min) have ended
  expect(r.deleted.map((s) => s.stream).sort()).toEqual(["main", "sub"]);
  expect(stats.rowsRead).toBeLessThanOrEqual(16);
});

test("by age and by bytes, with locks and segments sharing a start: the same segments go as by a plain model", () => {
  fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.constantFrom<StreamKind>("main", "sub"), fc.integer({ min: 0, max: 40 })), { maxLength: 120 }),
      fc.integer({ min: 0, max: 45 }),
      fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
      fc.option(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 10 })), { nil: undefined }),
      async (raw, ageMin, maxSegs, lock) => {
        const byId = new Map(raw.map(([c, s, m]) => { const x = seg(c, s, m * 60_000); return [x.id, x] as const; }));
        const segs = [...byId.values()];
        const now = 50 * 60_000;
        const locks: EvidenceLock[] = lock ? [{ id: "l1", cameraId: "a", startMs: lock[0] * 60_000, endMs: (lock[0] + lock[1]) * 60_000, reason: "test", createdAtMs: 0 } as EvidenceLock] : [];
        const maxAgeMs = now - ageMin * 60_000;
        const maxBytes = maxSegs === undefined ? undefined : maxSegs * 1000;
        const { db } = memoryIndex(segs);
        const r = await retention(host(db, now, locks), () => ({ maxAgeMs, ...(maxBytes !== undefined ? { maxBytes } : {}) }), 0);
        // The model: per camera, oldest first; by age every unlocked segment ended by the cutoff;
        // then by bytes unlocked ones oldest first until the camera fits.
        const locked = (s: SegmentRecord) => locks.some((l) => l.cameraId === s.cameraId && s.startMs < l.endMs && s.endMs > l.startMs);
        const expected = new Set<string>();
        for (const cam of ["a", "b"]) {
          const mine = segs.filter((s) => s.cameraId === cam).sort((x, y) => x.startMs - y.startMs || x.stream.localeCompare(y.stream));
          const cutoff = now - maxAgeMs;
          for (const s of mine) if (s.startMs < cutoff && s.endMs <= cutoff && !locked(s)) expected.add(s.id);
          if (maxBytes !== undefined) {
            let bytes = mine.filter((s) => !expected.has(s.id)).reduce((n, s) => n + s.bytes, 0);
            for (const s of mine) {
              if (bytes <= maxBytes) break;
              if (expected.has(s.id) || locked(s)) continue;
              expected.add(s.id);
              bytes -= s.bytes;
            }
          }
        }
        expect(new Set(r.deleted.map((s) => s.id))).toEqual(expected);
      },
    ),
    { numRuns: 200 },
  );
});
