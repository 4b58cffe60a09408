import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { encodePreview } from "../../lib/preview/format.ts";
import type { AuditInput } from "../audit/index.ts";
import { parseCentralConfig } from "../config.ts";
import { CentralRetention } from "../retention.ts";
import { migrateUp, type Database } from "../db/index.ts";
import { testEmbedded } from "../db/testkit.ts";
import { writeRows } from "../mirror/index.ts";
import { PreviewStore } from "./store.ts";
import { mirrorEdgeHas, prunePreviews } from "./retention.ts";

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const SEG = 60_000;
const quiet = () => new Logger({ component: "preview-retention", sink: new MemorySink() });
let dir: string;
let mirror: Database;
let previews: PreviewStore;
let database: Database;
const clock = new ManualClock(T0);

function previewOf(cameraId: string, startMs: number, pad = 0): Uint8Array {
  const jpeg = new Uint8Array(1000 + pad).fill(startMs % 251);
  return encodePreview({ cameraId, stream: "sub", segmentStartMs: startMs, segmentEndMs: startMs + SEG, source: "frame-diff", activity: { startMs, levels: new Array(60).fill(10) } }, [{ atMs: startMs, width: 160, height: 90, jpeg }]);
}

async function edgeKnows(siteId: string, cameraId: string, startMs: number) {
  await writeRows(mirror, "cp_segments", [[siteId, cameraId, "sub", startMs, startMs + SEG, 1000]]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "central-preview-retention-"));
  database = await testEmbedded(join(dir, "pg"));
  await migrateUp(database);
  // One database holds the mirror and the previews' index, as in central.
  mirror = database;
  previews = await PreviewStore.open(dir, database, clock, quiet());
});
afterAll(async () => {
  await previews.close();
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

test("a preview goes only when it is past central's retention AND the edge no longer has its segment; every deletion audited", async () => {
  // s1.cam1: ten one-minute previews; the edge still has the oldest two and the newest.
  for (let i = 0; i < 10; i++) await previews.put("s1", "cam1", "sub", T0 + i * SEG, previewOf("cam1", T0 + i * SEG));
  for (const i of [0, 1, 9]) await edgeKnows("s1", "cam1", T0 + i * SEG);
  // s2.cam1: no retention configured for site s2 (kept however old).
  await previews.put("s2", "cam1", "sub", T0, previewOf("cam1", T0));

  const store = await MediaStore.open({ root: join(dir, "store"), clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  const audits: AuditInput[] = [];
  // s1 keeps 5 minutes; the central-wide default keeps everything.
  const config = parseCentralConfig({ retention: { sites: { s1: { maxAgeHours: 5 / 60 } } } }).retention;
  const r = new CentralRetention({ store, config, siteName: () => undefined, audit: (a) => audits.push(a), log: quiet(), previews: (policyOf) => prunePreviews({ store: previews, now: () => clock.now(), policyOf, edgeHas: mirrorEdgeHas(() => mirror) }) });

  // Inside retention (every preview ended less than 5 min ago): nothing goes though the edge forgot most.
  clock.set(T0 + 5.5 * SEG);
  await r.run();
  expect((await previews.segmentsOf("s1", "cam1")).length).toBe(10);

  // 20 min later all ten are past retention: 2–8 go (the edge forgot them), 0, 1 and 9 stay.
  clock.set(T0 + 20 * SEG);
  await r.run();
  const left = (await previews.segmentsOf("s1", "cam1")).map((s) => (s.startMs - T0) / SEG).sort((a, b) => a - b);
  expect(left).toEqual([0, 1, 9]);
  expect(existsSync(join(dir, "preview/files/s1/cam1/sub/2026-12-01", `${T0 + 2 * SEG}.preview`))).toBe(false);
  expect(existsSync(join(dir, "preview/files/s1/cam1/sub/2026-12-01", `${T0}.preview`))).toBe(true);
  // The API stops answering for a deleted one: no thumbnail near minute 4, one at minute 0.
  expect(await previews.thumbnail("s1", "cam1", T0 + 4 * SEG, 30_000)).toBeNull();
  expect(await previews.thumbnail("s1", "cam1", T0, 1000)).not.toBeNull();
  expect(await previews.activity("s1", "cam1", T0 + 2 * SEG, T0 + 9 * SEG, SEG)).toEqual(new Array(7).fill(null));
  expect((await previews.segmentsOf("s2", "cam1")).length).toBe(1);
  const a = audits.filter((x) => x.subject === "central.preview");
  expect(a.length).toBe(1);
  expect(a[0]).toMatchObject({ user: "system", action: "retention", cameraId: "s1.cam1", fromMs: T0 + 2 * SEG, toMs: T0 + 9 * SEG, detail: { previews: 7 } });

  // The edge overwrites the rest: they go at the next pass.
  await mirror.run(`DELETE FROM cp_segments WHERE site_id = 's1'`);
  await r.run();
  expect(await previews.segmentsOf("s1", "cam1")).toEqual([]);
  await store.close();
});

test("size: a camera's previews beyond its maxBytes go, oldest first, unless the edge still has them", async () => {
  for (let i = 0; i < 6; i++) await previews.put("s3", "cam2", "sub", T0 + i * SEG, previewOf("cam2", T0 + i * SEG, 4000));
  const each = (await previews.segmentsOf("s3", "cam2"))[0]!.bytes;
  await edgeKnows("s3", "cam2", T0);
  const gone = await prunePreviews({ store: previews, now: () => T0 + 6 * SEG, policyOf: () => ({ maxBytes: each * 3 }), edgeHas: mirrorEdgeHas(() => mirror) });
  expect(gone).toEqual([{ siteId: "s3", cameraId: "cam2", previews: 2, bytes: 2 * each, fromMs: T0 + SEG, toMs: T0 + 3 * SEG }]);
  expect((await previews.segmentsOf("s3", "cam2")).map((s) => (s.startMs - T0) / SEG)).toEqual([5, 4, 3, 0]);
  // Without a mirror (central starting) nothing is deleted.
  expect(await prunePreviews({ store: previews, now: () => T0 + 6 * SEG, policyOf: () => ({ maxBytes: 1 }), edgeHas: mirrorEdgeHas(() => null) })).toEqual([]);
});
