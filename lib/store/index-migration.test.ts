/**
 * An edge upgraded from a version whose index was DuckDB (index.duckdb): its first start copies
 * the segment rows — hashes and fragment tables included — into the SQLite index and removes the
 * old file, so recovery finds no file without a row (it would otherwise read every file again
 * before recording). An old file that cannot be read is left to recovery, which indexes the files.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { IndexDb } from "./db.ts";
import { INDEX_FILE, LEGACY_INDEX_FILE } from "./layout.ts";
import { MediaStore } from "./store.ts";
import { feed, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const T0 = 1_700_000_000_000;
const exists = (p: string) => stat(p).then(() => true, () => false);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-migrate-"));
  media = await makeMedia(dir, 8);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A store as the previous version left it: segments recorded with their rows in DuckDB. */
async function oldStore(name: string) {
  const root = join(dir, name);
  const clock = new ManualClock(T0);
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "t", sink: new MemorySink() }), segmentDurationMs: 2000, minFreeBytes: 0, index: () => IndexDb.open(join(root, LEGACY_INDEX_FILE)) });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 15);
  await w.end("stopped");
  const rows = await store.segments({ cameraId: "cam1", fromMs: 0, toMs: 2e12 });
  await store.close();
  return { root, clock, rows: rows.filter((r) => !r.open) };
}

test("the first start copies the DuckDB rows (hashes, fragment tables) and removes the old file; nothing is indexed from the files", async () => {
  const { root, clock, rows } = await oldStore("upgrade");
  expect(rows.length).toBeGreaterThanOrEqual(3);
  const sink = new MemorySink();
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "t", sink }), segmentDurationMs: 2000, minFreeBytes: 0 });
  try {
    expect(await exists(join(root, LEGACY_INDEX_FILE))).toBe(false);
    expect(await exists(join(root, INDEX_FILE))).toBe(true);
    expect(store.recovery.actions.filter((a) => a.action === "indexed-orphan")).toEqual([]);
    const now = (await store.segments({ cameraId: "cam1", fromMs: 0, toMs: 2e12 })).filter((r) => !r.open);
    expect(now).toEqual(rows);
    expect(now.every((r) => /^[0-9a-f]{64}$/.test(r.sha256 ?? ""))).toBe(true);
    expect(sink.records.find((r) => r.msg === "index moved from DuckDB to SQLite")).toMatchObject({ segments: rows.length });
  } finally {
    await store.close();
  }
});

test("an old index that cannot be read: the files are indexed by recovery, the old file goes", async () => {
  const { root, clock, rows } = await oldStore("unreadable");
  await writeFile(join(root, LEGACY_INDEX_FILE), "not a database");
  const sink = new MemorySink();
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "t", sink }), segmentDurationMs: 2000, minFreeBytes: 0 });
  try {
    expect(await exists(join(root, LEGACY_INDEX_FILE))).toBe(false);
    expect(store.recovery.actions.filter((a) => a.action === "indexed-orphan").length).toBe(rows.length);
    const now = (await store.segments({ cameraId: "cam1", fromMs: 0, toMs: 2e12 })).filter((r) => !r.open);
    expect(now.map((r) => [r.startMs, r.endMs, r.bytes])).toEqual(rows.map((r) => [r.startMs, r.endMs, r.bytes]));
    expect(sink.records.some((r) => r.msg === "old DuckDB index not readable; recovery indexes the files instead")).toBe(true);
  } finally {
    await store.close();
  }
});
