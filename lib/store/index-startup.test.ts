/**
 * What a start costs the index. Start-up recovery makes the gaps and locks tables equal to the
 * journals and lock files (StoreIndex.replaceGapsAndLocks): it must write only what differs — a
 * store's gap history grows with every crash and outage, and rewriting all of it at each start
 * cost a statement per gap and put the whole history into the WAL the next start replays.
 * Opening an index with the current schema writes nothing, and the WAL a crash leaves (replayed
 * before the first fragment can be written) stays small however long the edge ran.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INDEX_IMPLS } from "./index-testkit.ts";
import type { JournalGap } from "./journal.ts";
import type { EvidenceLock } from "./types.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "index-startup-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const history = (n: number): JournalGap[] =>
  Array.from({ length: n }, (_, i) => ({ cameraId: `c${i % 4}`, stream: "main" as const, startMs: 1000 * i, endMs: 1000 * i + 500, reason: "crash" as const, detail: "recorder did not shut down cleanly" }));
const lock = (id: string, endMs: number): EvidenceLock => ({ id, cameraId: "c1", startMs: 0, endMs, reason: "incident", createdBy: "admin", createdAtMs: 5, expiresAtMs: 9e12 });

for (const impl of INDEX_IMPLS)
  describe(impl.name, () => {
  /** Bytes in the index's write-ahead log (DuckDB: FILE.wal, SQLite: FILE-wal). */
  const walBytes = async (path: string) => (await stat(impl.name === "duckdb" ? `${path}.wal` : `${path}-wal`).catch(() => ({ size: 0 }))).size;

  test("the same journal again writes nothing; changes write exactly the difference", async () => {
    const path = join(dir, `index.${impl.name}`);
    let db = await impl.open(dir, `index.${impl.name}`);
    const gaps = history(300);
    await db.replaceGapsAndLocks(gaps, [lock("a", 10), lock("b", 20)]);
    await db.close(); // checkpointed: the WAL is empty
    db = await impl.open(dir, `index.${impl.name}`);
    try {
      const wal = await walBytes(path);
      await db.replaceGapsAndLocks([...gaps].reverse(), [lock("b", 20), lock("a", 10)]);
      expect(await walBytes(path)).toBe(wal);

      // A crash: one gap closed, a new open one, one gone from the journal, a lock changed, one removed, one new.
      const want: JournalGap[] = gaps.slice(1).map((g) => (g.startMs === 299_000 ? { ...g, endMs: 299_900, detail: undefined } : g));
      want.push({ cameraId: "c1", stream: "main", startMs: 400_000, endMs: null, reason: "crash" });
      await db.replaceGapsAndLocks(want, [lock("a", 11), lock("c", 30)]);
      const norm = (l: JournalGap[]) => l.map((g) => ({ ...g, detail: g.detail ?? null })).sort((x, y) => x.startMs - y.startMs);
      expect(norm(await db.allGaps())).toEqual(norm(want));
      expect(await db.allLocks()).toEqual([lock("a", 11), lock("c", 30)]);
    } finally {
      await db.close();
    }
  });

  test("reopening an index whose schema is current writes nothing; a new index gets every table", async () => {
    const path = join(dir, `reopen.${impl.name}`);
    let db = await impl.open(dir, `reopen.${impl.name}`);
    const tables = impl.name === "duckdb" ? `SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'locks'` : `SELECT count(*) AS n FROM sqlite_master WHERE name = 'locks'`;
  expect(Number((await db.all(tables))[0]!.n)).toBe(1);
    await db.putSegment({ id: "s", cameraId: "c1", stream: "main", startMs: 1, endMs: 2, bytes: 3, path: "x", mime: "video/mp4" }, new Uint8Array([1, 2]));
    expect((await db.fragmentTables("c1", "main", [1])).get(1)).toEqual(new Uint8Array([1, 2]));
    await db.close();
    const before = await walBytes(path);
    db = await impl.open(dir, `reopen.${impl.name}`);
    try {
      expect(await walBytes(path)).toBe(before);
      expect(await db.allGaps()).toEqual([]);
    } finally {
      await db.close(false);
    }
  });

  test("the WAL a crash leaves stays near WAL_CHECKPOINT however many segments were committed since the last checkpoint", async () => {
    const path = join(dir, `wal.${impl.name}`);
    const db = await impl.open(dir, `wal.${impl.name}`);
    try {
      const frags = new Uint8Array(1000).map((_, i) => i);
      // ~1.25 KB of WAL per commit (the fragment table dominates): 600 commits are ~3× the bound.
      for (let i = 0; i < 600; i++) {
        const startMs = 1e12 + i * 60_000;
        await db.putSegment({ id: `s${i}`, cameraId: "c1", stream: "main", startMs, endMs: startMs + 60_000, bytes: 1e6, path: `x${i}`, mime: "video/mp4" }, frags);
      }
      expect(await walBytes(path)).toBeLessThan(256 * 1024 + 16 * 1024);
    } finally {
      await db.close(false);
    }
  }, 60_000);
});
