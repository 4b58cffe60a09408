/** importSegment: a segment copied from another store lands hashed, durable, indexed, once. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore } from "./store.ts";
import { StoreInputError } from "./errors.ts";
import { feed, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const quiet = () => new Logger({ component: "t", sink: new MemorySink(), level: "error" });
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-import-"));
  media = await makeMedia(dir, 6);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

test("imports an edge segment into another store, idempotently, and refuses a wrong hash", async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const edge = await MediaStore.open({ root: join(dir, "edge"), clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = edge.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, 1_700_000_000_000, 0, 9);
  const [seg] = await edge.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: 2e12 });
  expect(seg?.sha256).toMatch(/^[0-9a-f]{64}$/);
  const central = await MediaStore.open({ root: join(dir, "central"), clock, log: quiet(), minFreeBytes: 0 });
  const tmp = join(dir, "central", "incoming.part");
  await copyFile(edge.absPath(seg!), tmp);
  const r = await central.importSegment(tmp, { cameraId: "s1.cam1", stream: "main", startMs: seg!.startMs, sha256: seg!.sha256! });
  expect(r.existed).toBe(false);
  expect(r.record).toMatchObject({ startMs: seg!.startMs, endMs: seg!.endMs, bytes: seg!.bytes, sha256: seg!.sha256 });
  await copyFile(edge.absPath(seg!), tmp);
  const again = await central.importSegment(tmp, { cameraId: "s1.cam1", stream: "main", startMs: seg!.startMs, sha256: seg!.sha256! });
  expect(again.existed).toBe(true);
  expect((await central.segments({ cameraId: "s1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).length).toBe(1);
  await copyFile(edge.absPath(seg!), tmp);
  await expect(central.importSegment(tmp, { cameraId: "s1.cam1", stream: "main", startMs: seg!.startMs + 5000, sha256: "0".repeat(64) })).rejects.toBeInstanceOf(StoreInputError);
  await writeFile(tmp, "not a segment");
  await expect(central.importSegment(tmp, { cameraId: "s1.cam1", stream: "main", startMs: 1, sha256: seg!.sha256! })).rejects.toThrow(/playable/);
  await edge.close();
  await central.close();
  // after a restart the imported segment is still there (file + index agree)
  const reopened = await MediaStore.open({ root: join(dir, "central"), clock, log: quiet(), minFreeBytes: 0 });
  const segs = await reopened.segments({ cameraId: "s1.cam1", stream: "main", fromMs: 0, toMs: 2e12 });
  expect(segs.map((s) => s.sha256)).toEqual([seg!.sha256]);
  expect(reopened.recovery.actions.filter((a) => a.action !== "crash-gap")).toEqual([]);
  await reopened.close();
});
