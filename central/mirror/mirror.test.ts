import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgeIndex } from "./index.ts";

let dir: string;
let m: EdgeIndex;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-mirror-"));
  m = await EdgeIndex.open(join(dir, "sites.duckdb"));
  const seg = (site: string, cam: string, stream: string, s: number, e: number, b: number) => m.db.run(`INSERT INTO cp_segments VALUES ($1, $2, $3, $4, $5, $6)`, [site, cam, stream, s, e, b]);
  await seg("s1", "cam1", "main", 3000, 4000, 30);
  await seg("s1", "cam1", "main", 1000, 2000, 10);
  await seg("s1", "cam1", "main", 2000, 3000, 20);
  await seg("s1", "cam1", "sub", 1000, 9000, 99); // another stream
  await seg("s2", "cam1", "main", 1000, 9000, 99); // another site
  await m.db.run(`INSERT INTO cp_gaps VALUES ('s1', 'cam1', 'main', 4000, 6000, 'stall')`);
  await m.db.run(`INSERT INTO cp_locks VALUES ('s1', 'cam1', 'lk-1', 1500, 2500, 'evidence', NULL), ('s1', 'cam1', 'lk-2', 3000, 3500, 'old', 100)`);
  await m.db.run(`INSERT INTO cp_retention VALUES ('s1', 'cam1', 'main', 86400000, 1)`);
});

afterAll(async () => {
  await m.close();
  await rm(dir, { recursive: true, force: true });
});

test("segments: only the stream's pieces overlapping the window, by start", async () => {
  expect(await m.segments("s1", "cam1", "main", 1500, 3000)).toEqual([
    { startMs: 1000, endMs: 2000, bytes: 10 },
    { startMs: 2000, endMs: 3000, bytes: 20 },
  ]);
  expect(await m.segments("s1", "cam1", "main", 4000, 5000)).toEqual([]); // touching the end is not overlapping
});

test("gaps, index end (segment or gap), horizon; nothing known gives 0 / null", async () => {
  expect(await m.gaps("s1", "cam1", "main", 0, 10_000)).toEqual([{ startMs: 4000, endMs: 6000, reason: "stall" }]);
  expect(await m.indexEnd("s1", "cam1", "main")).toBe(6000);
  expect(await m.indexEnd("s1", "nope", "main")).toBe(0);
  expect(await m.horizon("s1", "cam1", "main")).toBe(86_400_000);
  expect(await m.horizon("s1", "cam1", "sub")).toBeNull();
});

test("locks: all of a camera's, with expiry; hasLock by id within the site", async () => {
  const locks = (await m.locks("s1", "cam1")).sort((a, b) => a.startMs - b.startMs);
  expect(locks).toEqual([
    { startMs: 1500, endMs: 2500, expiresMs: null },
    { startMs: 3000, endMs: 3500, expiresMs: 100 },
  ]);
  expect(await m.hasLock("s1", "lk-1")).toBe(true);
  expect(await m.hasLock("s2", "lk-1")).toBe(false);
});
