/**
 * The index file's size: a new index uses 16 KiB DuckDB blocks so one camera's hour is not
 * outweighed by a ~2 MB near-empty file; an index written with DuckDB's default 256 KiB blocks
 * (stores from before) still opens, reads and writes as it is.
 */
import { afterAll, expect, test } from "bun:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IndexDb } from "./db.ts";
import type { SegmentRecord } from "./types.ts";

const dir = mkdtempSync(join(tmpdir(), "index-size-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const seg = (startMs: number): SegmentRecord => ({ id: "", cameraId: "cam1", stream: "main", startMs, endMs: startMs + 60_000, bytes: 7_500_000, path: "", mime: "video/mp4", width: 1280, height: 720, sha256: "a".repeat(64) });

async function blockSize(db: IndexDb): Promise<number> {
  return Number((await db.all(`SELECT block_size FROM pragma_database_size()`))[0]!.block_size);
}

test("a new index uses 16 KiB blocks and stays small for an hour of segments", async () => {
  const path = join(dir, "new.duckdb");
  const db = await IndexDb.open(path);
  expect(await blockSize(db)).toBe(16384);
  for (let i = 0; i < 60; i++) await db.putSegment(seg(i * 60_000));
  await db.putGap({ cameraId: "cam1", stream: "main", startMs: 3_600_000, endMs: null, reason: "camera-offline" });
  await db.close();
  expect(statSync(path).size).toBeLessThan(400 * 1024); // 256 KiB blocks: ~2 MB
  const again = await IndexDb.open(path, { readOnly: true });
  expect((await again.spans("cam1", "main", 0, 1e13)).start.length).toBe(60);
  await again.close(false);
});

test("an index made with 256 KiB blocks opens, keeps its block size and works", async () => {
  const path = join(dir, "old.duckdb");
  const inst = await DuckDBInstance.create(path);
  const con = await inst.connect();
  await con.run(`CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)`);
  await con.run(`CHECKPOINT`);
  con.closeSync();
  inst.closeSync();
  const db = await IndexDb.open(path);
  expect(await blockSize(db)).toBe(262144);
  await db.putSegment(seg(0));
  await db.putSegment(seg(60_000));
  expect(await db.coverageIn("cam1", "main", 0, 1e13)).toEqual({ start: [0], end: [120_000] });
  await db.close();
});
