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
import { AgeQuiet, retention } from "./retention.ts";
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

function host(db: StoreIndex, now: number, locks: EvidenceLock[] = [], quiet?: AgeQuiet) {
  return {
    ...(quiet ? { quiet } : {}),
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

test("by age and by bytes, with locks and segments sharing a start: the same segments go as by a plain model", async () => {
  await fc.assert(
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

test("an age pass that deleted nothing is not repeated until the oldest segment can expire (no index query meanwhile)", async () => {
  const maxAgeMs = 60 * 60_000;
  const t0 = 200 * 60_000;
  const { db, stats } = memoryIndex([seg("cam1", "main", t0 - 30 * 60_000), seg("cam1", "main", t0 - 29 * 60_000)]);
  const quiet = new AgeQuiet();
  const policy = () => ({ maxAgeMs });
  expect((await retention(host(db, t0, [], quiet), policy, 0)).deleted).toEqual([]);
  const after = stats.rowsRead;
  expect(after).toBeGreaterThan(0);
  // The pass stopped at a segment starting at t0 − 30 min: nothing can go before t0 + 30 min.
  for (const m of [0, 10, 29]) expect((await retention(host(db, t0 + m * 60_000, [], quiet), policy, 0)).deleted).toEqual([]);
  expect(stats.rowsRead).toBe(after);
  // A live segment (starting after the stop point) keeps that; one imported from before it does not.
  quiet.rowAdded("cam1", t0);
  expect(quiet.quiet("cam1", maxAgeMs, t0)).toBe(true);
  quiet.rowAdded("cam1", t0 - 40 * 60_000);
  expect(quiet.quiet("cam1", maxAgeMs, t0)).toBe(false);
  expect((await retention(host(db, t0 + 31 * 60_000, [], quiet), policy, 0)).deleted.length).toBe(1);
  // Another limit is another question.
  expect(quiet.quiet("cam1", maxAgeMs / 2, t0 + 31 * 60_000)).toBe(false);
});

test("a segment the cutoff falls inside goes as soon as it has ended by the limit, not a pass later", async () => {
  const maxAgeMs = 10 * 60_000;
  const t0 = 100 * 60_000;
  const straddling = { ...seg("cam1", "main", t0 - 10.5 * 60_000), endMs: t0 - 9.5 * 60_000 };
  const { db } = memoryIndex([straddling, seg("cam1", "main", t0 - 1 * 60_000)]);
  const quiet = new AgeQuiet();
  const policy = () => ({ maxAgeMs });
  expect((await retention(host(db, t0, [], quiet), policy, 0)).deleted).toEqual([]);
  expect((await retention(host(db, t0 + 30_000, [], quiet), policy, 0)).deleted.map((s) => s.id)).toEqual([straddling.id]);
});

test("a pass that kept a locked segment learns nothing: once the lock expires, the next pass deletes it", async () => {
  const maxAgeMs = 10 * 60_000;
  const t0 = 100 * 60_000;
  const { db } = memoryIndex([seg("cam1", "main", t0 - 30 * 60_000), seg("cam1", "main", t0 - 2 * 60_000)]);
  const locks = [{ id: "l1", cameraId: "cam1", startMs: t0 - 30 * 60_000, endMs: t0 - 29 * 60_000, reason: "t", createdAtMs: 0, expiresAtMs: t0 + 60_000 } as EvidenceLock];
  const quiet = new AgeQuiet();
  const policy = () => ({ maxAgeMs });
  expect((await retention(host(db, t0, locks, quiet), policy, 0)).deleted).toEqual([]);
  expect((await retention(host(db, t0 + 2 * 60_000, locks, quiet), policy, 0)).deleted.map((s) => s.startMs)).toEqual([t0 - 30 * 60_000]);
});

test("with the memory of earlier passes, every pass deletes exactly what a pass without it deletes (time moving, rows and locks coming and going)", async () => {
  type Step = { kind: "pass"; advanceS: number } | { kind: "add"; cam: string; agoS: number } | { kind: "lock"; cam: string; fromMin: number; lenMin: number; expiresInMin: number | undefined } | { kind: "unlock" };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant("pass" as const), advanceS: fc.integer({ min: 0, max: 1200 }) }),
    fc.record({ kind: fc.constant("add" as const), cam: fc.constantFrom("a", "b", "c"), agoS: fc.integer({ min: -120, max: 5400 }) }),
    fc.record({ kind: fc.constant("lock" as const), cam: fc.constantFrom("a", "b"), fromMin: fc.integer({ min: 0, max: 150 }), lenMin: fc.integer({ min: 1, max: 20 }), expiresInMin: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }) }),
    fc.record({ kind: fc.constant("unlock" as const) }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.constantFrom<StreamKind>("main", "sub"), fc.integer({ min: 0, max: 100 })), { maxLength: 60 }),
      fc.array(step, { maxLength: 30 }),
      fc.integer({ min: 5, max: 60 }),
      async (raw, steps, ageMin) => {
        const byId = new Map(raw.map(([c, s, m]) => { const x = seg(c, s, m * 60_000); return [x.id, x] as const; }));
        const plain = memoryIndex([...byId.values()]);
        const memo = memoryIndex([...byId.values()]);
        const quiet = new AgeQuiet();
        const policy = () => ({ maxAgeMs: ageMin * 60_000 });
        let now = 100 * 60_000;
        let locks: EvidenceLock[] = [];
        let n = 0;
        for (const st of steps) {
          if (st.kind === "pass") {
            now += st.advanceS * 1000;
            const a = await retention(host(plain.db, now, locks), policy, 0);
            const b = await retention(host(memo.db, now, locks, quiet), policy, 0);
            expect(b.deleted.map((s) => s.id).sort()).toEqual(a.deleted.map((s) => s.id).sort());
          } else if (st.kind === "add") {
            // As the store does in putRow: the row, and the memo told of it.
            const x = { ...seg(st.cam, "main", now - st.agoS * 1000), id: `added-${n++}` };
            for (const ix of [plain, memo]) {
              ix.rows.push({ ...x });
              ix.rows.sort((p, q) => p.startMs - q.startMs || p.cameraId.localeCompare(q.cameraId) || p.stream.localeCompare(q.stream));
            }
            quiet.rowAdded(x.cameraId, x.startMs);
          } else if (st.kind === "lock") {
            // A lock that expires by itself later (nothing tells the memo when).
            const expires = st.expiresInMin === undefined ? {} : { expiresAtMs: now + st.expiresInMin * 60_000 };
            locks = [...locks, { id: `l${n++}`, cameraId: st.cam, startMs: st.fromMin * 60_000, endMs: (st.fromMin + st.lenMin) * 60_000, reason: "t", createdAtMs: 0, ...expires } as EvidenceLock];
            quiet.changed();
          } else {
            locks = locks.slice(1);
            quiet.changed();
          }
        }
      },
    ),
    { numRuns: 1000 },
  );
});
