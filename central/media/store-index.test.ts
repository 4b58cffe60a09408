/**
 * MediaStore (lib/store: writer, recovery, retention, readers) over central's PostgreSQL
 * index, on both drivers: what central's live recorder and transfer receiver do to the store,
 * with rows in media_segments/media_gaps instead of a DuckDB file.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { migrateUp, type Database } from "../db/index.ts";
import { openMigratedPair } from "../db/testkit.ts";
import { ownedCameras } from "../retention.ts";
import { FsBlobStore } from "../../lib/blob/index.ts";
import { CentralMedia, PgStoreIndex } from "./index.ts";
import { twoNodeStore } from "./testkit.ts";

let media: Media;
const { drivers, tmp } = driversInTempDir("pgstore");
// "Two central nodes": two connections to one database — the server driver only.
const server = drivers.find((d) => d.name.startsWith("server"))!;
const sink = new MemorySink();
const log = new Logger({ component: "t", sink, level: "error" });
const T0 = 1_764_800_000_000;

beforeAll(async () => {
  media = await makeMedia(tmp(), 6);
});


let n = 0;
for (const d of drivers) {
  describe.skipIf(d.skip)(`MediaStore over PgStoreIndex: ${d.name}`, () => {
    test("record, read, import once, restart, a missing file's row kept and reported, retention deletes rows and files", async () => {
      const dir = path.join(tmp(), `d${++n}`);
      const db = await d.open();
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
        expect(await store.spans({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).toEqual({ start: segs.map((s) => s.startMs), end: segs.map((s) => s.endMs), bytes: segs.map((s) => s.bytes) });
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

describe.skipIf(server.skip)("two central nodes, one store directory, one server database", () => {
  test("the same segment imported by both at once is committed once; other bytes at that start move on", async () => {
    const nodes = await openMigratedPair(server);
    const dir = path.join(tmp(), "two-nodes");
    const root = path.join(dir, "store");
    const clock = new ManualClock(T0);
    const open = (db: Database) => MediaStore.open({ root, clock, log, segmentDurationMs: 2000, minFreeBytes: 0, index: async () => new PgStoreIndex(db, () => clock.now()) });
    const a = await open(nodes.a);
    const b = await open(nodes.b);
    try {
      const w = a.writer("bus-1.cam1", "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 14);
      const segs = (await a.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open);
      expect(segs.length).toBeGreaterThanOrEqual(2);
      // An edge's resend after a failover reaches the other node while the first still commits.
      for (let i = 0; i < 4; i++) {
        const cameraId = `bus-2.cam${i}`;
        const seg = segs[i % segs.length]!;
        const srcA = path.join(root, `in-a-${i}.part`);
        const srcB = path.join(root, `in-b-${i}.part`);
        await fs.copyFile(a.absPath(seg), srcA);
        await fs.copyFile(a.absPath(seg), srcB);
        const expectSeg = { cameraId, stream: "main" as const, startMs: seg.startMs, sha256: seg.sha256! };
        const [ra, rb] = await Promise.all([a.importSegment(srcA, expectSeg), b.importSegment(srcB, expectSeg)]);
        expect([ra.existed, rb.existed].sort()).toEqual([false, true]);
        expect(ra.record.startMs).toBe(seg.startMs);
        expect(rb.record.startMs).toBe(seg.startMs);
        const rows = await nodes.a.query<{ start_ms: number; sha256: string }>(`SELECT start_ms, sha256 FROM media_segments WHERE site_id = $1 AND camera_id = $2`, ["bus-2", `cam${i}`]);
        expect(rows.map((r) => [Number(r.start_ms), r.sha256])).toEqual([[seg.startMs, seg.sha256!]]);
        // One file: nothing was filed at the next millisecond, and both sources are gone.
        expect(await fs.stat(path.join(root, ra.record.path)).then((s) => s.size)).toBe(seg.bytes);
        const dayDir = path.dirname(path.join(root, ra.record.path));
        expect((await fs.readdir(dayDir)).filter((f) => f.endsWith(".mp4"))).toHaveLength(1);
        expect(await fs.stat(srcA).catch(() => null)).toBeNull();
        expect(await fs.stat(srcB).catch(() => null)).toBeNull();
      }
      // Other bytes at a held start (custody's conflict path): the next free millisecond, on either node.
      const other = segs[1]!;
      const src = path.join(root, "in-other.part");
      await fs.copyFile(a.absPath(other), src);
      const moved = await b.importSegment(src, { cameraId: "bus-2.cam0", stream: "main", startMs: segs[0]!.startMs, sha256: other.sha256! });
      expect(moved.existed).toBe(false);
      expect(moved.record.startMs).toBe(segs[0]!.startMs + 1);
      expect((await nodes.b.query(`SELECT 1 FROM media_segments WHERE site_id = $1 AND camera_id = $2`, ["bus-2", "cam0"])).length).toBe(2);
    } finally {
      await a.close();
      await b.close();
      await nodes.close();
    }
  });
});

describe.skipIf(server.skip)("two central nodes on one store: recovery and retention by partition owner", () => {
  test("each node's recovery leaves other sites' files alone; its retention (age and quota passes) deletes only the sites it owns", async () => {
    const nodes = await openMigratedPair(server);
    const root = path.join(tmp(), "two-owners", "store");
    const clock = new ManualClock(T0);
    // Ownership injected (central/cluster decides it in the product): a owns bus-1, b owns bus-2.
    const open = (db: Database, site: string, extra: { maxTotalBytes?: number } = {}) =>
      MediaStore.open({ root, clock, log, segmentDurationMs: 2000, minFreeBytes: 0, ...extra, retentionScope: ownedCameras((id) => id === site), recoveryScope: ownedCameras((id) => id === site), index: async () => new PgStoreIndex(db, () => clock.now()) });
    const a = await open(nodes.a, "bus-1");
    const b = await open(nodes.b, "bus-2");
    let quota: MediaStore | null = null;
    const count = async (site: string) => (await nodes.a.query(`SELECT 1 FROM media_segments WHERE site_id = $1`, [site])).length;
    try {
      const w = a.writer("bus-1.cam1", "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 14);
      const segs = (await a.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open);
      for (const [i, seg] of segs.entries()) {
        const src = path.join(root, `in-${i}.part`);
        await fs.copyFile(a.absPath(seg), src);
        await b.importSegment(src, { cameraId: "bus-2.cam1", stream: "main", startMs: seg.startMs, sha256: seg.sha256! });
      }
      const held = await count("bus-1");
      expect(held).toBe(segs.length);
      expect(await count("bus-2")).toBe(segs.length);

      // A node starting meanwhile (unclean: a is still recording) leaves a's open segment file alone.
      quota = await open(nodes.b, "bus-2", { maxTotalBytes: 1 });
      expect(quota.recovery.actions.filter((a) => a.path?.includes("bus-1"))).toEqual([]);
      expect(await count("bus-1")).toBe(held);
      // The quota pass of b's node (a store-wide limit of 1 byte) frees only bus-2's footage.
      const q = await quota.enforceRetention(() => ({}));
      expect(q.deleted.map((s) => s.cameraId)).toEqual(Array(segs.length).fill("bus-2.cam1"));
      expect(await count("bus-2")).toBe(0);
      expect(await count("bus-1")).toBe(held);
      for (const s of segs) expect(await fs.stat(path.join(root, s.path)).then(() => true)).toBe(true);

      // Age: b's pass leaves a's site alone; a's pass deletes it.
      clock.set(T0 + 10 * 86_400_000);
      expect((await b.enforceRetention(() => ({ maxAgeMs: 86_400_000 }))).deleted).toEqual([]);
      expect(await count("bus-1")).toBe(held);
      expect((await a.enforceRetention(() => ({ maxAgeMs: 86_400_000 }))).deleted.length).toBe(held);
      expect(await count("bus-1")).toBe(0);
      for (const s of segs) expect(await fs.stat(path.join(root, s.path)).catch(() => null)).toBeNull();
    } finally {
      await quota?.close();
      await a.close();
      await b.close();
      await nodes.close();
    }
  });
});

/** Two nodes on the server and a new store directory under `name` (./testkit.ts); the leases' clock starts at T0 as the recording's does. */
const fencedStore = (name: string) => twoNodeStore(server, path.join(tmp(), name, "store"), log, { recordingMs: T0, leaseMs: T0 });

describe.skipIf(server.skip)("two central nodes on one store: live commits fenced by the partition epoch", () => {
  test("a node that lost the site's partition cannot commit its recording; the new owner commits at its epoch", async () => {
    const { nodes, root, clock, leaseClock, la, lb, openStore: open, close } = await fencedStore("fenced");
    const rows = async (cam: string) =>
      (await nodes.a.query<{ epoch: number | null; blob_key: string }>(`SELECT epoch, blob_key FROM media_segments WHERE site_id = $1 AND camera_id = $2 ORDER BY start_ms`, ["bus-1", cam])).map((r) => ({ epoch: r.epoch === null ? null : Number(r.epoch), path: r.blob_key }));
    await la.start({ timers: false });
    const a = await open(nodes.a, la);
    const b = await open(nodes.b, lb);
    try {
      const w = a.writer("bus-1.cam1", "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 8);
      const before = await rows("cam1");
      expect(before.length).toBeGreaterThanOrEqual(1);
      expect(before.every((r) => r.epoch !== null && r.epoch >= 1)).toBe(true);

      // a stalls (its leases lapse), b claims every partition at a higher epoch.
      la.halt();
      leaseClock.advance(3001);
      await lb.start({ timers: false });
      expect(lb.owns("bus-1")).toBe(true);
      await feed(w, media, clock, T0, 8, 16);
      // a's later segments were refused: no rows, their files gone.
      expect(await rows("cam1")).toEqual(before);
      const left = (await fs.readdir(path.join(root, "media", "bus-1.cam1", "main"), { recursive: true })).filter((f) => String(f).endsWith(".mp4"));
      expect(left.length).toBe(before.length + 1); // the committed ones and the one still open

      // The new owner's writer commits, stamped with its epoch.
      const wb = b.writer("bus-1.cam2", "main");
      wb.init(media.init, media.info);
      await feed(wb, media, clock, T0, 0, 8);
      const mine = await rows("cam2");
      expect(mine.length).toBeGreaterThanOrEqual(1);
      expect(mine.every((r) => r.epoch !== null && r.epoch > before[0]!.epoch!)).toBe(true);
    } finally {
      await close(a, b);
    }
  });

  test("a row whose write failed for a moment is retried through the fence: once the node lost the site, the retry is refused and its file goes", async () => {
    const { nodes, root, clock, leaseClock, la, lb, openStore, close } = await fencedStore("fenced-retry");
    // node-a's database handle, unreachable while `down` (a connection reset, a failover of the server).
    let down = false;
    const flaky = new Proxy(nodes.a, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => (down && (key === "transaction" || key === "run") ? Promise.reject(new Error("connection reset")) : v.apply(target, args));
      },
    });
    await la.start({ timers: false });
    const a = await openStore(flaky, la);
    const rows = async () => (await nodes.b.query<{ epoch: number | null; blob_key: string }>(`SELECT epoch, blob_key FROM media_segments ORDER BY start_ms`)).map((r) => ({ epoch: r.epoch === null ? null : Number(r.epoch), path: r.blob_key }));
    try {
      const w = a.writer("bus-1.cam1", "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 8);
      const before = await rows();
      expect(before.length).toBeGreaterThanOrEqual(1);
      // A segment closes while the database cannot be reached: its row waits in memory, its file on disk.
      down = true;
      await feed(w, media, clock, T0, 8, 14);
      down = false;
      const waiting = (await fs.readdir(path.join(root, "media", "bus-1.cam1", "main"), { recursive: true })).filter((f) => String(f).endsWith(".mp4")).length;
      expect(waiting).toBeGreaterThan(before.length + 1);
      // Meanwhile node-a stalls and node-b claims the site; node-a's next commit retries the waiting row first.
      la.halt();
      leaseClock.advance(3001);
      await lb.start({ timers: false });
      await feed(w, media, clock, T0, 14, 22);
      // Nothing of node-a's after the claim is indexed, not even the row that waited — and those files are gone.
      expect(await rows()).toEqual(before);
      const left = (await fs.readdir(path.join(root, "media", "bus-1.cam1", "main"), { recursive: true })).filter((f) => String(f).endsWith(".mp4"));
      expect(left.length).toBe(before.length + 1); // the committed ones and the one still open
    } finally {
      await close(a);
    }
  });

  test("a live segment starting where a backfilled copy already holds the row does not replace it: it takes the next free millisecond, and every file keeps its row", async () => {
    const { nodes, root, clock, la, openStore, close } = await fencedStore("held-start");
    await la.start({ timers: false });
    const a = await openStore(nodes.a, la);
    try {
      // The edge's copy of the moment the new owner's first live fragment starts (the writer's first segment starts at T0).
      const data = Buffer.concat([media.init, ...media.frags.slice(0, 2).map((f) => f.bytes)]);
      const sha256 = new Bun.CryptoHasher("sha256").update(data).digest("hex");
      const copy = await new CentralMedia({ db: nodes.a, blobs: new FsBlobStore(root), log }).commit({ siteId: "bus-1", cameraId: "cam1", stream: "main", startMs: T0, sha256, data });
      expect(copy.outcome).toBe("committed");
      const w = a.writer("bus-1.cam1", "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 8);
      const rows = await nodes.b.query<{ start_ms: number; blob_key: string }>(`SELECT start_ms, blob_key FROM media_segments WHERE site_id = 'bus-1' ORDER BY start_ms`);
      expect(rows[0]).toEqual({ start_ms: T0, blob_key: copy.record.path });
      expect(rows[1]!.start_ms).toBe(T0 + 1);
      const files = (await fs.readdir(path.join(root, "media", "bus-1.cam1", "main"), { recursive: true })).filter((f) => String(f).endsWith(".mp4")).map((f) => String(f));
      const keyed = new Set(rows.map((r) => r.blob_key.split("/").slice(-2).join("/")));
      const open = w.current()?.path.split("/").slice(-2).join("/");
      expect(files.filter((f) => !keyed.has(f) && f !== open)).toEqual([]); // no file without its row (but the segment still being written)
      expect((await a.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open).map((s) => s.startMs).slice(0, 2)).toEqual([T0, T0 + 1]);
    } finally {
      await close(a);
    }
  });

  for (const offset of [0, -3])
  test(`a live segment whose bytes a copy already holds at its start${offset ? ` (${offset} ms)` : ""} is the same footage: its row is refused and its file removed, the copy's row stays alone`, async () => {
    const { nodes, root, clock, la, openStore, close } = await fencedStore(`same-bytes${offset}`);
    // What the writer will record first, made once beforehand in a store of its own (DuckDB index).
    const probeClock = new ManualClock(T0);
    const probe = await MediaStore.open({ root: path.join(tmp(), `same-bytes${offset}`, "probe"), clock: probeClock, log, segmentDurationMs: 2000, minFreeBytes: 0 });
    const pw = probe.writer("bus-1.cam1", "main");
    pw.init(media.init, media.info);
    await feed(pw, media, probeClock, T0, 0, 8);
    const [first] = (await probe.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((x) => !x.open);
    const data = await fs.readFile(path.join(tmp(), `same-bytes${offset}`, "probe", first!.path));
    await probe.close();
    await la.start({ timers: false });
    const a = await openStore(nodes.a, la);
    try {
      const sha256 = new Bun.CryptoHasher("sha256").update(data).digest("hex");
      const copy = await new CentralMedia({ db: nodes.a, blobs: new FsBlobStore(root), log }).commit({ siteId: "bus-1", cameraId: "cam1", stream: "main", startMs: first!.startMs + offset, sha256, data });
      expect(copy.outcome).toBe("committed");
      const w = a.writer("bus-1.cam1", "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 8);
      const rows = await nodes.b.query<{ start_ms: number; blob_key: string; sha256: string }>(`SELECT start_ms, blob_key, sha256 FROM media_segments WHERE site_id = 'bus-1' ORDER BY start_ms`);
      expect(rows.filter((r) => r.sha256 === sha256)).toEqual([{ start_ms: first!.startMs + offset, blob_key: copy.record.path, sha256 }]);
      expect(rows.some((r) => Number(r.start_ms) === first!.startMs + 1)).toBe(false);
      const files = (await fs.readdir(path.join(root, "media", "bus-1.cam1", "main"), { recursive: true })).filter((f) => String(f).endsWith(".mp4")).map((f) => String(f));
      const keyed = new Set(rows.map((r) => r.blob_key.split("/").slice(-2).join("/")));
      const open = w.current()?.path.split("/").slice(-2).join("/");
      expect(files.filter((f) => !keyed.has(f) && f !== open)).toEqual([]); // the writer's second copy is gone with its row
      // The other order: the edge's upload of bytes central already holds a few ms off is a duplicate, not a second row.
      const again = await new CentralMedia({ db: nodes.a, blobs: new FsBlobStore(root), log }).commit({ siteId: "bus-1", cameraId: "cam1", stream: "main", startMs: first!.startMs + offset + 5, sha256, data });
      expect(again.outcome).toBe("duplicate");
    } finally {
      await close(a);
    }
  });
});
