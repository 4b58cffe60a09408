/**
 * central/media on both drivers (embedded PGlite and a real PostgreSQL 15): real segment files
 * recorded by lib/store from GStreamer media, blobs in a real directory. Two central nodes are
 * two Database handles on one server sharing one directory (server only: PGlite is one
 * process's database).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import path from "node:path";
import { FsBlobStore } from "../../lib/blob/index.ts";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { LEGACY_INDEX_FILE, MediaStore, StoreInputError, type SegmentRecord } from "../../lib/store/index.ts";
import { IndexDb } from "../../lib/store/db.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { migrateUp, type Database } from "../db/index.ts";
import { CentralMedia, IntentTakenError, importLegacyStore } from "./index.ts";

const { drivers, tmp } = driversInTempDir("media");
/** Two central nodes: two connections to one database — the server driver only. */
const server = drivers.find((d) => d.name.startsWith("server"))!;
let media: Media;
/** Three real closed segments of one edge stream: their bytes and records. */
let segs: { rec: SegmentRecord & { sha256: string }; data: Uint8Array }[];
const sink = new MemorySink();
const log = new Logger({ component: "t", sink, level: "info" });
const T0 = 1_764_800_000_000;

beforeAll(async () => {
  media = await makeMedia(tmp(), 8);
  const clock = new ManualClock(T0);
  const edge = await MediaStore.open({ root: path.join(tmp(), "edge"), clock, log, segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = edge.writer("cam1", "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 20);
  const recs = await edge.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: 2e12 });
  segs = await Promise.all(recs.filter((r): r is SegmentRecord & { sha256: string } => !r.open && !!r.sha256).slice(0, 3).map(async (rec) => ({ rec, data: new Uint8Array(await Bun.file(edge.absPath(rec)).arrayBuffer()) })));
  await edge.close();
  expect(segs.length).toBe(3);
});

const input = (i: number, over: Partial<{ siteId: string; cameraId: string; startMs: number }> = {}) => ({
  siteId: "bus-1",
  cameraId: "cam1",
  stream: "main" as const,
  startMs: segs[i]!.rec.startMs,
  sha256: segs[i]!.rec.sha256!,
  data: segs[i]!.data,
  ...over,
});

async function blobKeys(blobs: FsBlobStore, prefix = "media/"): Promise<string[]> {
  const out: string[] = [];
  for await (const b of blobs.list(prefix)) out.push(b.key);
  return out;
}

let n = 0;
for (const d of drivers) {
  describe.skipIf(d.skip)(`central/media: ${d.name}`, () => {
    let db: Database;
    let dir: string;
    let blobs: FsBlobStore;
    let store: CentralMedia;
    beforeAll(async () => {
      dir = path.join(tmp(), `drv${++n}`);
      db = await d.open();
      await migrateUp(db);
      blobs = new FsBlobStore(path.join(dir, "store"));
      store = new CentralMedia({ db, blobs, log });
    });
    afterAll(async () => {
      await db?.close();
    });

    test("a commit stores blob then row; the row plays back: byte ranges, fragment table, timeline query", async () => {
      const r = await store.commit(input(0));
      expect(r.outcome).toBe("committed");
      expect(r.record).toMatchObject({ siteId: "bus-1", siteCameraId: "cam1", cameraId: "bus-1.cam1", startMs: segs[0]!.rec.startMs, endMs: segs[0]!.rec.endMs, bytes: segs[0]!.rec.bytes, sha256: segs[0]!.rec.sha256 });
      const rows = await store.index.segments("bus-1", "cam1", "main", 0, 2e12);
      expect(rows.map((s) => s.startMs)).toEqual([segs[0]!.rec.startMs]);
      expect(await store.read(rows[0]!)).toEqual(segs[0]!.data);
      expect(await store.read(rows[0]!, { start: 8, end: 16 })).toEqual(segs[0]!.data.subarray(8, 16));
      const ft = await store.index.fragmentTables("bus-1", "cam1", "main", [rows[0]!.startMs]);
      expect(ft.get(rows[0]!.startMs)?.length).toBeGreaterThan(8);
      expect(await store.index.cameras("bus-1")).toMatchObject([{ siteId: "bus-1", cameraId: "cam1", stream: "main", segments: 1, bytes: segs[0]!.rec.bytes }]);
    });

    test("exactly once: the same segment again is a duplicate (no second row or blob); other bytes at that start move on by 1 ms", async () => {
      const before = await blobKeys(blobs);
      const again = await store.commit(input(0));
      expect(again.outcome).toBe("duplicate");
      expect(await blobKeys(blobs)).toEqual(before);
      // Other bytes claimed at the same start (e.g. central's own live recording): kept beside, for custody to judge.
      const other = await store.commit(input(1, { startMs: segs[0]!.rec.startMs }));
      expect(other).toMatchObject({ outcome: "moved", heldSha256: segs[0]!.rec.sha256, record: { startMs: segs[0]!.rec.startMs + 1, sha256: segs[1]!.rec.sha256 } });
      expect((await store.index.segments("bus-1", "cam1", "main", 0, 2e12)).map((s) => s.sha256)).toEqual([segs[0]!.rec.sha256, segs[1]!.rec.sha256]);
      expect((await blobKeys(blobs)).length).toBe(2);
    });

    test("bad input is refused with a clear error and stores nothing", async () => {
      const before = await blobKeys(blobs);
      await expect(store.commit({ ...input(2), sha256: "0".repeat(64) })).rejects.toThrow(/SHA-256 mismatch/);
      await expect(store.commit({ ...input(2), data: new TextEncoder().encode("not a segment") })).rejects.toThrow(/playable/);
      await expect(store.commit(input(2, { siteId: "../etc" }))).rejects.toBeInstanceOf(StoreInputError);
      await expect(store.commit(input(2, { cameraId: "a/b" }))).rejects.toBeInstanceOf(StoreInputError);
      await expect(store.commit({ ...input(2), sha256: "'; DROP TABLE media_segments; --" })).rejects.toThrow(/sha256/);
      expect(await blobKeys(blobs)).toEqual(before);
      expect(await store.index.segments("bus-1", "cam1", "main", segs[2]!.rec.startMs, 2e12)).toEqual([]);
    });

    test("a crash between blob and row leaves garbage the owner's sweep removes after the grace period, never before", async () => {
      const crashing = new CentralMedia({
        db,
        blobs,
        log,
        afterBlobPut: () => {
          throw new Error("killed");
        },
      });
      await expect(crashing.commit(input(2))).rejects.toThrow("killed");
      const orphan = (await blobKeys(blobs)).find((k) => k.includes(`/${segs[2]!.rec.startMs}-`));
      expect(orphan).toBeDefined();
      expect(await store.index.get("bus-1", "cam1", "main", segs[2]!.rec.startMs)).toBeNull();
      // Young: maybe a commit in flight on another node.
      expect(await store.sweep("bus-1")).toEqual([]);
      const later = new CentralMedia({ db, blobs, log, clock: new ManualClock(Date.now() + 3_600_000) });
      expect(await later.sweep("other-site")).toEqual([]);
      expect(await later.sweep("bus-1")).toEqual([orphan!]);
      // Blobs with rows stay; playback unaffected; the segment can be committed again.
      expect((await blobKeys(blobs)).length).toBe(2);
      expect((await store.commit(input(2))).outcome).toBe("committed");
      expect(await later.sweep("bus-1")).toEqual([]);
    });

    test("a commit's intent lives from before its blob to its row; the node's next process deletes the blob of a commit its earlier one was killed in; a commit slower than the sweep's grace fails its row", async () => {
      const intents = async () => (await db.query<{ blob_key: string }>(`SELECT blob_key FROM media_intents`)).map((r) => r.blob_key);
      // The commits above (committed, duplicate, moved, refused, the crash the sweep cleaned) left none.
      expect(await intents()).toEqual([]);
      let cut = "";
      const killed = new CentralMedia({ db, blobs, log, nodeId: "n1", afterBlobPut: (key) => {
        cut = key;
        throw new Error("killed");
      } });
      await expect(killed.commit(input(2, { siteId: "bus-8" }))).rejects.toThrow("killed");
      expect(await intents()).toEqual([cut]);
      // Another node leaves it: n1 is not known dead (no heartbeat of it has lapsed).
      expect(await new CentralMedia({ db, blobs, log, nodeId: "n2" }).reapCutCommits(() => true, Date.now())).toEqual([]);
      // n1's next process: its earlier process's commit, whichever site (a restart within the lease never looks dead).
      expect(await new CentralMedia({ db, blobs, log, nodeId: "n1" }).reapCutCommits(() => false, 0)).toEqual([cut]);
      expect(await blobs.stat(cut)).toBeNull();
      expect(await intents()).toEqual([]);

      // A commit still in flight when the sweep's grace has passed: the sweep takes its intent with its blob, so its row is refused.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let reached!: (key: string) => void;
      const atPut = new Promise<string>((r) => (reached = r));
      const slow = new CentralMedia({ db, blobs, log, nodeId: "n3", afterBlobPut: async (key) => {
        reached(key);
        await gate;
      } });
      const done = slow.commit(input(2, { siteId: "bus-8" })).catch((e: Error) => e);
      const slowKey = await atPut;
      expect(await new CentralMedia({ db, blobs, log, clock: new ManualClock(Date.now() + 3_600_000) }).sweep("bus-8")).toEqual([slowKey]);
      release();
      expect(await done).toBeInstanceOf(IntentTakenError);
      expect(await store.index.get("bus-8", "cam1", "main", segs[2]!.rec.startMs)).toBeNull();
      expect(await blobKeys(blobs, "media/bus-8.")).toEqual([]);
      expect(await intents()).toEqual([]);
    });

    test("a row without its blob is reported by check, never dropped", async () => {
      expect(await store.check()).toEqual([]);
      const [row] = await store.index.segments("bus-1", "cam1", "main", segs[2]!.rec.startMs, segs[2]!.rec.startMs + 1);
      await fs.rm(blobs.pathOf(row!.blobKey));
      const problems = await store.check("bus-1");
      expect(problems.map((p) => [p.kind, p.segment.startMs])).toEqual([["row-without-blob", row!.startMs]]);
      expect(await store.read(row!)).toBeNull();
      expect(await store.index.get("bus-1", "cam1", "main", row!.startMs)).not.toBeNull();
      expect(await new CentralMedia({ db, blobs, log, clock: new ManualClock(Date.now() + 3_600_000) }).sweep("bus-1")).toEqual([]);
      expect(await store.index.get("bus-1", "cam1", "main", row!.startMs)).not.toBeNull();
      expect(sink.records.some((r) => r.msg === "segment row without its blob")).toBe(true);
    });

    test("an upgraded installation's store is indexed once: from its DuckDB index, else rebuilt from the files", async () => {
      // The previous version: central's MediaStore (its DuckDB index) with two imported segments and a gap.
      const root = path.join(dir, "old-store");
      await fs.mkdir(root, { recursive: true });
      const old = await MediaStore.open({ root, log, minFreeBytes: 0, index: () => IndexDb.open(path.join(root, LEGACY_INDEX_FILE)) });
      for (const s of segs.slice(0, 2)) {
        const src = path.join(root, "incoming.part");
        await Bun.write(src, s.data);
        await old.importSegment(src, { cameraId: "bus-9.cam1", stream: "main", startMs: s.rec.startMs, sha256: s.rec.sha256! });
      }
      await old.addGap({ cameraId: "bus-9.cam1", stream: "main", startMs: T0 - 60_000, endMs: T0 - 30_000, reason: "camera-offline" });
      await old.close();

      const r = await importLegacyStore(db, root, log);
      expect(r).toEqual({ source: "index", segments: 2, gaps: 1, skipped: 0 });
      const legacy = new CentralMedia({ db, blobs: new FsBlobStore(root), log });
      const rows = await legacy.index.segments("bus-9", "cam1", "main", 0, 2e12);
      expect(rows.map((s) => s.sha256)).toEqual(segs.slice(0, 2).map((s) => s.rec.sha256));
      expect(await legacy.read(rows[1]!)).toEqual(segs[1]!.data);
      expect((await legacy.index.fragmentTables("bus-9", "cam1", "main", [rows[0]!.startMs])).size).toBe(1);
      expect(await legacy.index.gaps("bus-9", "cam1", "main", 0, 2e12)).toMatchObject([{ reason: "camera-offline", endMs: T0 - 30_000 }]);
      expect(await legacy.check("bus-9")).toEqual([]);
      // Once: a second start imports nothing.
      expect(await importLegacyStore(db, root, log)).toEqual({ source: "done", segments: 0, gaps: 0, skipped: 0 });
      // Imported blobs are referenced: the sweeper keeps them.
      expect(await new CentralMedia({ db, blobs: new FsBlobStore(root), log, clock: new ManualClock(Date.now() + 3_600_000) }).sweep("bus-9")).toEqual([]);

      // Without its DuckDB index the same rows come from the files (fresh database).
      const fresh = await d.open();
      try {
        await migrateUp(fresh);
        await fs.rm(path.join(root, LEGACY_INDEX_FILE));
        const rebuilt = await importLegacyStore(fresh, root, log);
        expect(rebuilt).toEqual({ source: "files", segments: 2, gaps: 1, skipped: 0 });
        const again = await new CentralMedia({ db: fresh, blobs: new FsBlobStore(root), log }).index.segments("bus-9", "cam1", "main", 0, 2e12);
        expect(again.map(({ startMs, endMs, bytes, sha256, blobKey }) => ({ startMs, endMs, bytes, sha256, blobKey }))).toEqual(
          rows.map(({ startMs, endMs, bytes, sha256, blobKey }) => ({ startMs, endMs, bytes, sha256, blobKey })),
        );
      } finally {
        await fresh.close();
      }
    });

    test("bookkeeping given as withRow commits with the row or not at all (a failure in it leaves no row, no blob)", async () => {
      const before = await blobKeys(blobs);
      const start = segs[2]!.rec.startMs;
      await expect(store.commit({ ...input(2, { siteId: "bus-7" }), withRow: async () => { throw new Error("node died here"); } })).rejects.toThrow(/node died here/);
      expect(await store.index.segments("bus-7", "cam1", "main", start, 2e12)).toEqual([]);
      expect(await blobKeys(blobs)).toEqual(before);
      let ran = 0;
      const ok = await store.commit({ ...input(2, { siteId: "bus-7" }), withRow: async (tx) => void (ran += (await tx.query(`SELECT count(*)::int AS n FROM media_segments WHERE start_ms = $1`, [start])).length) });
      expect(ok.outcome).toBe("committed");
      expect(ran).toBe(1); // ran inside the insert's transaction, where the row is visible
      const again = await store.commit({ ...input(2, { siteId: "bus-7" }), withRow: async () => void ran++ });
      expect(again.outcome).toBe("duplicate");
      expect(ran).toBe(1); // not for a duplicate
    });

    test("a blob put that fails leaves no intent behind; one that failed because another node's upkeep took this node for dead (its intent taken, its temp file removed) fails as IntentTakenError", async () => {
      const intents = async () => (await db.query<{ blob_key: string }>(`SELECT blob_key FROM media_intents`)).map((r) => r.blob_key);
      const failing = (onSync: () => Promise<void>) =>
        new CentralMedia({ db, blobs: new FsBlobStore(blobs.root, { syncFile: async () => {
          await onSync();
          throw Object.assign(new Error("ENOENT: the temp file is gone"), { code: "ENOENT" });
        } }), log, nodeId: "n5" });
      // A write that fails on its own (disk, mount): the error as it is, and the intent goes (this process would never reap it).
      await expect(failing(async () => undefined).commit(input(2, { siteId: "bus-6" }))).rejects.toThrow(/ENOENT/);
      expect(await intents()).toEqual([]);
      // The put outlived this node's heartbeat: a reaper took its intent (and its temp file) meanwhile.
      const taken = failing(async () => void (await db.run(`DELETE FROM media_intents WHERE site_id = $1`, ["bus-6"])));
      await expect(taken.commit(input(2, { siteId: "bus-6" }))).rejects.toBeInstanceOf(IntentTakenError);
      expect(await intents()).toEqual([]);
      expect(await blobKeys(blobs, "media/bus-6.")).toEqual([]);
    });
  });
}

describe.skipIf(server.skip)("central/media: two central nodes on one PostgreSQL server and one shared directory", () => {
  test("one node commits, the other lists and plays back; both commit the same segment at once → one row, one blob", async () => {
    const [dbA, dbB] = await server.openTwo();
    try {
      await Promise.all([migrateUp(dbA), migrateUp(dbB)]);
      const shared = path.join(tmp(), "shared-store");
      const a = new CentralMedia({ db: dbA, blobs: new FsBlobStore(shared), log });
      const b = new CentralMedia({ db: dbB, blobs: new FsBlobStore(shared), log });
      expect((await a.commit(input(0, { siteId: "boat-3" }))).outcome).toBe("committed");
      const seen = await b.index.segments("boat-3", "cam1", "main", 0, 2e12);
      expect(seen.map((s) => s.sha256)).toEqual([segs[0]!.rec.sha256]);
      expect(await b.read(seen[0]!)).toEqual(segs[0]!.data);
      // The edge resends after a failover while the first upload is still committing on the old node.
      const results = await Promise.all([a.commit(input(1, { siteId: "boat-3" })), b.commit(input(1, { siteId: "boat-3" }))]);
      expect(results.map((r) => r.outcome).sort()).toEqual(["committed", "duplicate"]);
      expect((await a.index.segments("boat-3", "cam1", "main", 0, 2e12)).length).toBe(2);
      expect((await blobKeys(new FsBlobStore(shared), "media/boat-3.")).length).toBe(2);
      expect(await b.check("boat-3")).toEqual([]);
    } finally {
      await dbA.close();
      await dbB.close();
    }
  });
});
