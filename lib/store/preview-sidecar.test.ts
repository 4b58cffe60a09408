/** A segment's preview file (lib/preview) lives beside it and goes with it: retention, recovery, check. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore } from "./store.ts";
import { checkStore } from "./check.ts";
import { previewRelPath } from "./layout.ts";
import { feed, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const quiet = () => new Logger({ component: "t", sink: new MemorySink(), level: "error" });
const exists = (p: string) => stat(p).then(() => true, () => false);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-sidecar-"));
  media = await makeMedia(dir, 8);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

test("retention deletes a segment's preview with it; recovery drops a preview whose segment is gone; check does not call it a stray", async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const root = join(dir, "store");
  let store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "sub");
  w.init(media.init, media.info);
  await feed(w, media, clock, 1_700_000_000_000, 0, 15);
  const segs = await store.segments({ cameraId: "cam1", stream: "sub", fromMs: 0, toMs: 2e12 });
  expect(segs.length).toBeGreaterThanOrEqual(3);
  for (const s of segs) await writeFile(join(root, previewRelPath(s.path)), "OPV1 preview");
  expect((await checkStore(root, { rebuild: false, log: quiet() })).problems.filter((p) => p.kind === "stray-file")).toEqual([]);
  // retention: the oldest segment goes, and its preview with it
  clock.advance(10_000);
  const r = await store.enforceRetention(() => ({ maxAgeMs: segs.at(-1)!.startMs < clock.now() ? clock.now() - segs[1]!.startMs : 0 }));
  expect(r.deleted.length).toBeGreaterThanOrEqual(1);
  for (const d of r.deleted) expect(await exists(join(root, previewRelPath(d.path)))).toBe(false);
  const kept = segs.filter((s) => !r.deleted.some((d) => d.path === s.path));
  for (const s of kept) expect(await exists(join(root, previewRelPath(s.path)))).toBe(true);
  // a preview whose segment is gone (a stop between the two unlinks) is dropped at the next open
  const orphan = join(root, previewRelPath(r.deleted[0]!.path));
  await writeFile(orphan, "OPV1 orphan");
  await store.close();
  store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  expect(await exists(orphan)).toBe(false);
  for (const s of kept) expect(await exists(join(root, previewRelPath(s.path)))).toBe(true);
  await store.close();
});

test("a sidecar write a crash interrupted (its tmp file) is recovered on start, not a stray: check calls it recoverable, the next open removes it", async () => {
  const clock = new ManualClock(1_700_000_100_000);
  const root = join(dir, "store-tmp");
  let store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "sub");
  w.init(media.init, media.info);
  await feed(w, media, clock, 1_700_000_100_000, 0, 9);
  const [seg] = await store.segments({ cameraId: "cam1", stream: "sub", fromMs: 0, toMs: 2e12 });
  await store.close();
  // What writeFileAtomic leaves when the process dies between write and rename; the store was
  // then not closed cleanly.
  const tmp = join(root, `${previewRelPath(seg!.path)}.tmp-4242-7`);
  await writeFile(tmp, "OPV1 half");
  await rm(join(root, "CLEAN"), { force: true });
  const report = await checkStore(root, { rebuild: false, log: quiet() });
  expect(report.problems).toEqual([]);
  expect(report.recoverable.map((p) => p.kind)).toContain("temp-file");
  store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  expect(await exists(tmp)).toBe(false);
  await store.close();
  expect((await checkStore(root, { rebuild: false, log: quiet() })).problems).toEqual([]);
});
