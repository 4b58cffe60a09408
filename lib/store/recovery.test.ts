/**
 * Recovery at open checks only what the last run may have left open: files without an index row
 * (the writer adds a row once a file is closed and fsynced). An indexed file is trusted as
 * indexed — not stat'ed or read — so a start does not cost a stat per file of a large store;
 * `outpost check` still compares every file with its row.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFile, cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore, checkStore } from "./index.ts";
import { feed, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const quiet = () => new Logger({ component: "store", sink: new MemorySink() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-recovery-"));
  media = await makeMedia(dir, 6);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("open after a crash rescans only the files without a row; an indexed file is left as indexed, check still reports it changed", async () => {
  const clock = new ManualClock(T0);
  const live = await MediaStore.open({ root: join(dir, "live"), clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = live.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 12); // 4 s: a committed 2 s segment, the next one still open
  await w.settled(); // the closed segments are committed (indexed)
  const committed = (await live.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 })).filter((s) => !s.open);
  expect(committed.length).toBeGreaterThanOrEqual(1);
  // The disk as a kill -9 would leave it (the open segment has no row); and an indexed file
  // grew behind the index's back.
  const root = join(dir, "crashed");
  await cp(join(dir, "live"), root, { recursive: true });
  await live.close();
  await appendFile(join(root, committed[0]!.path), new Uint8Array(100));

  const store = await MediaStore.open({ root, clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  try {
    const acts = store.recovery.actions;
    // The file the crash left open is indexed; the committed one is not touched.
    expect(acts.filter((a) => a.action === "indexed-orphan").map((a) => a.path)).not.toContain(committed[0]!.path);
    expect(acts.filter((a) => a.action === "indexed-orphan").length).toBe(1);
    expect(acts.some((a) => a.path === committed[0]!.path)).toBe(false);
    const row = (await store.segments({ cameraId: "cam1", fromMs: T0, toMs: T0 + 60_000 })).find((s) => s.path === committed[0]!.path)!;
    expect(row.bytes).toBe(committed[0]!.bytes);
  } finally {
    await store.close();
  }
  const report = await checkStore(root, { rebuild: false, log: quiet() });
  expect(report.problems.map((p) => [p.kind, p.path])).toContainEqual(["size-mismatch", committed[0]!.path]);
}, 60_000);
