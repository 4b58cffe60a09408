/**
 * The preview index on both drivers of central/db (PGlite and a real PostgreSQL 15): store,
 * duplicate, replace, thumbnail of a moment, activity, runs, removal; and an upgraded
 * installation's preview.duckdb copied once (then kept aside as preview.duckdb.moved).
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { encodePreview } from "../../lib/preview/format.ts";
import { removeTempDirs, tempDir } from "../../tests/helpers.ts";
import { Db } from "../db.ts";
import { transferTestDrivers } from "../transfer/test-db.ts";
import { PreviewStore } from "./store.ts";

const t = transferTestDrivers();
setDefaultTimeout(120_000);
afterAll(async () => {
  await t.stop();
  await removeTempDirs();
});
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const SEG = 60_000;
const quiet = () => new Logger({ component: "t", sink: new MemorySink(), level: "error" });

function previewOf(cameraId: string, startMs: number, level = 10, fill = 7): Uint8Array {
  const levels = new Array(60).fill(0);
  for (let i = 20; i < 30; i++) levels[i] = level;
  return encodePreview({ cameraId, stream: "sub", segmentStartMs: startMs, segmentEndMs: startMs + SEG, source: "frame-diff", activity: { startMs, levels } }, [
    { atMs: startMs, width: 160, height: 90, jpeg: new Uint8Array(500).fill(fill) },
    { atMs: startMs + 30_000, width: 160, height: 90, jpeg: new Uint8Array(600).fill(fill + 1) },
  ]);
}

for (const d of t.drivers) {
  describe.skipIf(d.skip)(`preview index: ${d.name}`, () => {
    test("stored once, replaced by other bytes, answered from the index, removed whole", async () => {
      const { a, close } = await d.open();
      try {
        const store = await PreviewStore.open(await tempDir("pv"), a, new ManualClock(T0), quiet());
        expect((await store.put("s1", "cam1", "sub", T0, previewOf("cam1", T0))).stored).toBe(true);
        expect((await store.put("s1", "cam1", "sub", T0, previewOf("cam1", T0))).stored).toBe(false); // duplicate
        await store.put("s1", "cam1", "sub", T0 + SEG, previewOf("cam1", T0 + SEG, 40));
        const th = await store.thumbnail("s1", "cam1", T0 + 31_000);
        expect(th).toMatchObject({ atMs: T0 + 30_000, bytes: 600, width: 160 });
        expect(th!.jpeg[0]).toBe(8);
        expect((await store.thumbnails("s1", "cam1", T0, T0 + 2 * SEG)).map((x) => x.atMs)).toEqual([T0, T0 + 30_000, T0 + SEG, T0 + SEG + 30_000]);
        const act = await store.activity("s1", "cam1", T0, T0 + 2 * SEG, SEG);
        expect(act).toEqual([10, 40]);
        expect(await store.runs([{ siteId: "s1", cameraId: "cam1" }], T0, T0 + 2 * SEG, 20)).toEqual([{ siteId: "s1", cameraId: "cam1", startMs: T0 + SEG + 20_000, endMs: T0 + SEG + 30_000, peak: 40 }]);
        // Other bytes for the same segment replace it (thumbs and runs too, no leftovers).
        await store.put("s1", "cam1", "sub", T0, previewOf("cam1", T0, 90, 1));
        expect(await store.activity("s1", "cam1", T0, T0 + SEG, SEG)).toEqual([90]);
        expect((await store.thumbnails("s1", "cam1", T0, T0 + SEG)).length).toBe(2);
        await store.remove("s1", "cam1", "sub", T0);
        expect(await store.segmentsOf("s1", "cam1")).toEqual([{ stream: "sub", startMs: T0 + SEG, endMs: T0 + 2 * SEG, bytes: previewOf("cam1", T0 + SEG, 40).length }]);
        expect(await store.thumbnails("s1", "cam1", T0, T0 + SEG)).toEqual([]);
        expect(await store.cameras()).toEqual([{ siteId: "s1", cameraId: "cam1" }]);
      } finally {
        await close();
      }
    });

    test("an upgraded installation's preview.duckdb is copied once, then kept aside", async () => {
      const dir = await tempDir("pv-old");
      const { a, close } = await d.open();
      try {
        await Bun.write(join(dir, "preview", ".keep"), "");
        const duck = await Db.open(join(dir, "preview", "preview.duckdb"));
        await duck.run(`CREATE TABLE pv_segments (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, start_ms BIGINT, end_ms BIGINT, bytes BIGINT, sha256 VARCHAR, path VARCHAR, act_start_ms BIGINT, levels VARCHAR, source VARCHAR, received_ms BIGINT, PRIMARY KEY (site_id, camera_id, stream, start_ms))`);
        await duck.run(`CREATE TABLE pv_thumbs (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, seg_start_ms BIGINT, idx INTEGER, at_ms BIGINT, bytes INTEGER, sha256 VARCHAR, width INTEGER, height INTEGER)`);
        await duck.run(`CREATE TABLE pv_runs (site_id VARCHAR, camera_id VARCHAR, stream VARCHAR, seg_start_ms BIGINT, start_ms BIGINT, end_ms BIGINT, peak INTEGER)`);
        await duck.run(`INSERT INTO pv_segments VALUES ('s1', 'cam1', 'sub', $1, $2, 1100, 'ab', 'files/x.preview', $1, '[1,2]', 'frame-diff', $1)`, [T0, T0 + SEG]);
        await duck.run(`INSERT INTO pv_thumbs VALUES ('s1', 'cam1', 'sub', $1, 0, $1, 500, 'cd', 160, 90)`, [T0]);
        await duck.run(`INSERT INTO pv_runs VALUES ('s1', 'cam1', 'sub', $1, $1, $2, 12)`, [T0, T0 + 1000]);
        await duck.close();
        const store = await PreviewStore.open(dir, a, new ManualClock(T0), quiet());
        expect(await store.segmentsOf("s1", "cam1")).toEqual([{ stream: "sub", startMs: T0, endMs: T0 + SEG, bytes: 1100 }]);
        expect(await store.runs([{ siteId: "s1", cameraId: "cam1" }], T0, T0 + SEG)).toEqual([{ siteId: "s1", cameraId: "cam1", startMs: T0, endMs: T0 + 1000, peak: 12 }]);
        expect(existsSync(join(dir, "preview", "preview.duckdb"))).toBe(false);
        expect(existsSync(join(dir, "preview", "preview.duckdb.moved"))).toBe(true);
        // Retention empties the index; the next start copies nothing back.
        await store.remove("s1", "cam1", "sub", T0);
        await PreviewStore.open(dir, a, new ManualClock(T0), quiet());
        expect(await store.cameras()).toEqual([]);
      } finally {
        await close();
      }
    });
  });
}
