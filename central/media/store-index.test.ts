/**
 * MediaStore (lib/store: writer, recovery, retention, readers) over central's PostgreSQL
 * index, on both drivers: what central's live recorder and transfer receiver do to the store,
 * with rows in media_segments/media_gaps instead of a DuckDB file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { migrateUp, openServer, type Database } from "../db/index.ts";
import { postgresUnavailable, startPostgres, testEmbedded, type TestPostgres } from "../db/testkit.ts";
import { PgStoreIndex } from "./index.ts";

let tmp: string;
let pg: TestPostgres | null = null;
let media: Media;
const noServer = postgresUnavailable();
const sink = new MemorySink();
const log = new Logger({ component: "t", sink, level: "error" });
const T0 = 1_764_800_000_000;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(tmpdir(), "outpost-pgstore-"));
  if (!noServer) pg = await startPostgres();
  media = await makeMedia(tmp, 6);
});
afterAll(async () => {
  await pg?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

const drivers: { name: string; skip: boolean; open: (dir: string) => Promise<Database> }[] = [
  { name: "embedded (PGlite)", skip: false, open: (dir) => testEmbedded(path.join(dir, "pg")) },
  { name: "server (PostgreSQL 15)", skip: !!noServer, open: async () => openServer(await pg!.createDatabase()) },
];

let n = 0;
for (const d of drivers) {
  describe.skipIf(d.skip)(`MediaStore over PgStoreIndex: ${d.name}`, () => {
    test("record, read, import once, restart, a missing file's row kept and reported, retention deletes rows and files", async () => {
      const dir = path.join(tmp, `d${++n}`);
      const db = await d.open(dir);
      try {
        await migrateUp(db);
        const clock = new ManualClock(T0);
        const root = path.join(dir, "store");
        const open = () => MediaStore.open({ root, clock, log, segmentDurationMs: 2000, minFreeBytes: 0, index: async () => new PgStoreIndex(db, () => clock.now()) });
        let store = await open();
        const w = store.writer("bus-1.cam1", "main");
        w.init(media.init, media.info);
        await feed(w, media, clock, T0, 0, 14);
        const segs = (await store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open);
        expect(segs.length).toBeGreaterThanOrEqual(2);
        // The rows are central's: site and camera split, in PostgreSQL.
        const rows = await db.query<{ site_id: string; camera_id: string; n: number }>(`SELECT site_id, camera_id, count(*)::int AS n FROM media_segments GROUP BY site_id, camera_id`);
        expect(rows).toEqual([{ site_id: "bus-1", camera_id: "cam1", n: segs.length }]);
        const tl = await store.timeline({ cameraId: "bus-1.cam1", stream: "main", fromMs: T0 - 10_000, toMs: T0 + 60_000 });
        expect(tl.ranges.length).toBe(1);
        expect((await store.fragmentTables("bus-1.cam1", "main", segs)).size).toBe(segs.length);
        expect((await store.cameras()).map((c) => c.cameraId)).toEqual(["bus-1.cam1"]);

        // The transfer receiver's import: once.
        const src = path.join(root, "incoming.part");
        await fs.copyFile(store.absPath(segs[0]!), src);
        const imp = await store.importSegment(src, { cameraId: "bus-2.cam9", stream: "main", startMs: segs[0]!.startMs, sha256: segs[0]!.sha256! });
        expect(imp.existed).toBe(false);
        await fs.copyFile(store.absPath(segs[0]!), src);
        expect((await store.importSegment(src, { cameraId: "bus-2.cam9", stream: "main", startMs: segs[0]!.startMs, sha256: segs[0]!.sha256! })).existed).toBe(true);
        await store.close();

        // Restart: the rows are there; a file lost meanwhile keeps its row and is reported.
        await fs.rm(path.join(root, imp.record.path));
        store = await open();
        expect(store.recovery.actions.map((a) => a.action)).toEqual(["row-without-file"]);
        expect((await store.segments({ cameraId: "bus-2.cam9", stream: "main", fromMs: 0, toMs: 2e12 })).length).toBe(1);
        expect((await store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).map((s) => s.sha256)).toEqual(
          (await store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).map((s) => s.sha256),
        );
        expect((await store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).length).toBeGreaterThanOrEqual(segs.length);
        // A gap reported by central lands in media_gaps.
        await store.addGap({ cameraId: "bus-1.cam1", stream: "main", startMs: T0 - 5000, endMs: T0 - 1000, reason: "camera-offline" });
        expect((await db.query(`SELECT reason FROM media_gaps WHERE site_id = $1 AND start_ms = $2`, ["bus-1", T0 - 5000])).length).toBe(1);

        // Retention: age limit deletes the rows and the files.
        clock.set(T0 + 10 * 86_400_000);
        const r = await store.enforceRetention(() => ({ maxAgeMs: 86_400_000 }));
        expect(r.deleted.length).toBeGreaterThanOrEqual(segs.length);
        expect((await db.query(`SELECT 1 FROM media_segments WHERE site_id = $1`, ["bus-1"])).length).toBe(0);
        for (const s of segs) expect(await fs.stat(path.join(root, s.path)).catch(() => null)).toBeNull();
        await store.close();
      } finally {
        await db.close();
      }
    });
  });
}
