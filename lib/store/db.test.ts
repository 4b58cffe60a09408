import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INDEX_IMPLS, type TestIndex } from "./index-testkit.ts";
import type { SegmentRecord } from "./types.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const seg = (startMs: number, endMs: number, sha256 = "aa"): SegmentRecord => ({ id: `c1/main/${startMs}`, cameraId: "c1", stream: "main", startMs, endMs, bytes: 5, path: `c1/main/${startMs}.mp4`, mime: 'video/mp4; codecs="avc1.42c01e"', width: 640, height: 360, sha256 });

for (const impl of INDEX_IMPLS)
  describe(impl.name, () => {
  async function open(): Promise<TestIndex> {
    const dir = mkdtempSync(join(tmpdir(), "index-db-"));
    dirs.push(dir);
    return impl.open(dir);
  }

  test("a segment row is inserted, and a row with the same key replaced (recovery, a re-filed segment), whatever the order", async () => {
    const db = await open();
    try {
      await db.putSegment(seg(1000, 2000));
      await db.putSegment(seg(5000, 6000));
      await db.putSegment(seg(1000, 3000, "bb")); // same key: replaces, no duplicate-key error
      await db.putSegment(seg(3000, 4000));
      const rows = await db.all("SELECT start_ms, end_ms, sha256 FROM segments ORDER BY start_ms");
      expect(rows.map((r) => [Number(r.start_ms), Number(r.end_ms), r.sha256])).toEqual([
        [1000, 3000, "bb"],
        [3000, 4000, "aa"],
        [5000, 6000, "aa"],
      ]);
      expect((await db.spans("c1", "main", 0, 10_000)).end).toEqual([3000, 4000, 6000]);
    } finally {
      await db.close(false);
    }
  });

  test("companion rows: inserted or replaced by key; an error other than a duplicate key is the caller's", async () => {
    const db = await open();
    try {
      await db.run("CREATE TABLE side (k BIGINT PRIMARY KEY, v VARCHAR NOT NULL)");
      const insert = "INSERT INTO side VALUES ($1, $2)";
      const replace = "INSERT OR REPLACE INTO side VALUES ($1, $2)";
      await db.putCompanionRow(insert, replace, [1, "a"]);
      await db.putCompanionRow(insert, replace, [2, "b"]);
      await db.putCompanionRow(insert, replace, [1, "c"]);
      expect((await db.all("SELECT k, v FROM side ORDER BY k")).map((r) => [Number(r.k), r.v])).toEqual([
        [1, "c"],
        [2, "b"],
      ]);
      await expect(db.putCompanionRow(insert, replace, [3, null])).rejects.toThrow(/NOT NULL/i);
      expect(Number((await db.all("SELECT count(*) AS n FROM side"))[0]!.n)).toBe(2);
    } finally {
      await db.close(false);
    }
  });
});

// Text that reaches the index from outside (a camera's error text in a gap's detail, an
// operator's lock reason, ids) goes in as bound parameters and comes back unchanged — NUL,
// quotes, SQL, any Unicode — and numbers at the edges of the safe range stay exact.
for (const impl of INDEX_IMPLS)
  test(`${impl.name}: hostile text and extreme numbers round-trip through gaps and locks`, async () => {
    const fc = (await import("fast-check")).default;
    const dir = mkdtempSync(join(tmpdir(), "index-hostile-"));
    dirs.push(dir);
    const db = await impl.open(dir);
    try {
      const text = fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.constantFrom("'; DROP TABLE gaps; --", "\0", "a\0b", "$1", "?1", "\u202e", "x".repeat(10_000)));
      const ms = fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(0, 1, 2 ** 32, 2 ** 53 - 1));
      let n = 0;
      await fc.assert(
        fc.asyncProperty(text, text, ms, async (detail, reason, startMs) => {
          const id = `lock-${n++}`;
          await db.putGap({ cameraId: "c1", stream: "main", startMs, endMs: null, reason: "camera-offline", detail });
          const [g] = await db.gaps("c1", "main", startMs, startMs + 1);
          expect(g).toEqual({ cameraId: "c1", stream: "main", startMs, endMs: null, reason: "camera-offline", detail });
          await db.deleteGap({ cameraId: "c1", stream: "main", startMs });
          const lock = { id, cameraId: "c1", startMs, endMs: startMs, reason, createdBy: detail, createdAtMs: 5 };
          await db.putLock(lock);
          expect((await db.allLocks()).find((l) => l.id === id)).toEqual(lock);
          await db.deleteLock(id);
        }),
        { numRuns: 150 },
      );
      expect(await db.allGaps()).toEqual([]);
      expect(await db.allLocks()).toEqual([]);
    } finally {
      await db.close(false);
    }
  });
