/**
 * composeCentral and central's store: opened at storage.path (e.g. a shared mount), its index
 * in central's database, and an upgraded installation's DuckDB store index copied in on the
 * first start (no rebuild from the files, nothing lost).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCentralSite } from "../main.ts";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { feed, makeMedia } from "../../lib/store/testdata/media.ts";

const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-storagepath-"));
afterAll(() => fs.rm(root, { recursive: true, force: true }));
const log = new Logger({ component: "t", sink: new MemorySink(), level: "error" });

test("central keeps its store at storage.path with its index in the database; the previous version's DuckDB index is imported once", async () => {
  const dataDir = path.join(root, "data");
  const shared = path.join(root, "mnt", "media");
  // The previous version: central's store with its own DuckDB index, holding one edge segment.
  const T0 = 1_764_800_000_000;
  const clock = new ManualClock(T0);
  const media = await makeMedia(root, 4);
  const edge = await MediaStore.open({ root: path.join(root, "edge"), clock, log, segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = edge.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 8);
  const [seg] = (await edge.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open);
  const old = await MediaStore.open({ root: shared, log, minFreeBytes: 0 });
  await fs.copyFile(edge.absPath(seg!), path.join(shared, "in.part"));
  await old.importSegment(path.join(shared, "in.part"), { cameraId: "bus-1.cam1", stream: "main", startMs: seg!.startMs, sha256: seg!.sha256! });
  await old.close();
  await edge.close();

  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const start = () =>
    startCentralSite({ dataDir, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, storage: { path: shared, index: "database", minFreeBytes: 0 } }, { log });
  let c = await start();
  try {
    expect(c.store.root).toBe(shared);
    // Imported from the DuckDB index: recovery found every file indexed (no rebuild, nothing dropped).
    expect(c.store.recovery.actions.filter((a) => a.action !== "crash-gap")).toEqual([]);
    const held = await c.store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 });
    expect(held.map((s) => s.sha256)).toEqual([seg!.sha256]);
    expect(await c.central.database.query(`SELECT site_id, camera_id FROM media_segments`)).toEqual([{ site_id: "bus-1", camera_id: "cam1" }]);
  } finally {
    await c.close();
  }
  expect(existsSync(path.join(shared, "CLEAN"))).toBe(true);
  expect(existsSync(path.join(dataDir, "store"))).toBe(false);
  // Once: a second start imports nothing more and holds the same.
  c = await start();
  try {
    expect((await c.central.database.query<{ n: number }>(`SELECT count(*)::int AS n FROM media_imports`))[0]!.n).toBe(1);
    expect((await c.store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).length).toBe(1);
  } finally {
    await c.close();
  }
});
