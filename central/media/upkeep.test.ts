/**
 * MediaUpkeep on both drivers (two nodes = two lease holders on one database: two handles of a
 * PostgreSQL 15 server, or one embedded PGlite), one store directory: the node that claims a
 * stopped node's partitions recovers the files it left — and only those — and the blob sweep
 * runs per site on the partition's owner only.
 */
import { beforeAll, describe, expect, spyOn, test } from "bun:test";
import { promises as fs } from "node:fs";
import path from "node:path";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore, segmentRelPath } from "../../lib/store/index.ts";
import { FsBlobStore } from "../../lib/blob/index.ts";
import { feed, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { driversInTempDir } from "../database-testkit.ts";
import type { Database } from "../db/index.ts";
import type { TestDriver } from "../db/testkit.ts";
import { Leases, partitionOf } from "../cluster/index.ts";
import { CentralMedia, IntentTakenError, MediaUpkeep } from "./index.ts";
import { twoNodeStore } from "./testkit.ts";

let media: Media;
const { drivers, tmp } = driversInTempDir("upkeep");
const log = new Logger({ component: "t", sink: new MemorySink(), level: "error" });
const T0 = 1_764_800_000_000;
const QUIET_MS = 5_000;

beforeAll(async () => {
  media = await makeMedia(tmp(), 6);
});

let n = 0;
/** Two nodes on a new store directory under `name` (./testkit.ts); the lease clock runs from real time (heartbeats are compared with the upkeep's real-time clock). */
const twoNodes = (d: TestDriver, name: string) => twoNodeStore(d, path.join(tmp(), `${name}-${++n}`, "store"), log, { recordingMs: T0, leaseMs: Date.now() });

/** Makes a file look as if nothing touched it for `ms` (a dead node's leftovers age while the lease runs out). */
const age = async (file: string, ms: number) => {
  const t = new Date(Date.now() - ms);
  await fs.utimes(file, t, t);
};

/**
 * Two nodes on one database and one store directory: node-a holds every partition (its leases
 * on `leaseClock`, 3 s) and records; node-b's upkeep follows node-b's leases, on `time.now`
 * (files' times are real: `age` makes them old).
 */
const claimScene = async (d: TestDriver) => {
  const { nodes, root, clock, leaseClock, la, lb, openStore: open, close: closeAll } = await twoNodes(d, "claim");
  await la.start({ timers: false });
  const a = await open(nodes.a, la);
  const b = await open(nodes.b, lb);
  const time = { now: Date.now() };
  const upkeep = new MediaUpkeep({ store: b, media: new CentralMedia({ db: nodes.b, blobs: new FsBlobStore(root), log }), leases: lb, sites: () => ["bus-1"], log, quietMs: QUIET_MS, now: () => time.now });
  const rows = async (cam: string) =>
    (await nodes.a.query<{ blob_key: string; bytes: number; epoch: number | null }>(`SELECT blob_key, bytes, epoch FROM media_segments WHERE site_id = $1 AND camera_id = $2 ORDER BY start_ms`, ["bus-1", cam])).map((r) => ({
      path: r.blob_key,
      bytes: Number(r.bytes),
      epoch: r.epoch === null ? null : Number(r.epoch),
    }));
  /** node-a stops renewing; node-b claims every partition once node-a's leases lapse (its upkeep is told in the round). */
  const takeOver = async () => {
    la.halt();
    leaseClock.advance(3001);
    await lb.start({ timers: false });
  };
  const close = () => closeAll(upkeep, a, b);
  return { db: nodes.a, root, clock, leaseClock, la, lb, a, b, time, upkeep, rows, takeOver, close };
};

for (const d of drivers) {
  describe.skipIf(d.skip)(`media upkeep by partition owner: ${d.name}`, () => {
    test("the node claiming a stopped node's sites indexes its interrupted segment, removes its temp writes, opens a crash gap — and leaves a live node's file alone", async () => {
      const { db, root, clock, lb, a, b, time, upkeep, rows, takeOver, close } = await claimScene(d);
      try {
        // node-a records bus-1.cam1 and dies mid-segment: the open segment's file has no row.
        const w = a.writer("bus-1.cam1", "main");
        w.init(media.init, media.info);
        await feed(w, media, clock, T0, 0, 10);
        const committed = await rows("cam1");
        expect(committed.length).toBeGreaterThanOrEqual(1);
        const open1 = w.current()!;
        expect(open1.path).toBeTruthy();
        const leftover = path.join(root, open1.path);
        const leftoverSize = (await fs.stat(leftover)).size;
        // An interrupted sidecar write of node-a, and an interrupted blob put (CentralMedia) of the site.
        const tmpSidecar = path.join(path.dirname(leftover), `${path.basename(leftover, ".mp4")}.preview.tmp-4242-1`);
        await fs.writeFile(tmpSidecar, "half");
        const blobTmp = path.join(root, "media", "bus-1.cam3", "main", "x", `${T0}-deadbeef.mp4.tmp-0badc0de-1`);
        await fs.mkdir(path.dirname(blobTmp), { recursive: true });
        await fs.writeFile(blobTmp, "half");
        // Another node writes bus-1.cam2 right now (it records a site it does not own): a fresh file without a row.
        const liveFile = path.join(root, segmentRelPath("bus-1.cam2", "main", T0));
        await fs.mkdir(path.dirname(liveFile), { recursive: true });
        await fs.copyFile(leftover, liveFile);
        for (const f of [leftover, tmpSidecar, blobTmp]) await age(f, QUIET_MS * 2);

        // node-b claims every partition once node-a's leases lapse: its upkeep recovers bus-1.
        upkeep.start();
        await takeOver();
        expect(lb.owns("bus-1")).toBe(true);
        await upkeep.pass();

        const after = await rows("cam1");
        expect(after.length).toBe(committed.length + 1);
        const recovered = after.find((r) => r.path === open1.path)!;
        expect(recovered.bytes).toBe(leftoverSize);
        // Committed under node-b's claim: a higher epoch than node-a's rows.
        expect(recovered.epoch!).toBeGreaterThan(committed[0]!.epoch!);
        expect(await fs.stat(tmpSidecar).catch(() => null)).toBeNull();
        expect(await fs.stat(blobTmp).catch(() => null)).toBeNull();
        const gaps = await db.query<{ start_ms: number; end_ms: number | null; reason: string }>(`SELECT start_ms, end_ms, reason FROM media_gaps WHERE site_id = $1 AND camera_id = $2`, ["bus-1", "cam1"]);
        expect(gaps.map((g) => [g.reason, g.end_ms])).toEqual([["crash", null]]);
        expect(Number(gaps[0]!.start_ms)).toBeGreaterThanOrEqual(open1.startMs);
        // b's reads see the recovered segment.
        expect((await b.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).some((s) => s.path === open1.path)).toBe(true);

        // The live node's fresh file: untouched, no row, and the site stays pending for a later pass.
        expect(await rows("cam2")).toEqual([]);
        expect((await fs.stat(liveFile)).size).toBe(leftoverSize);
        expect(upkeep.pendingPartitions()).toContain(partitionOf("bus-1"));
        // Once it has been quiet long enough it is recovered too, and nothing is pending any more.
        await age(liveFile, QUIET_MS * 2);
        time.now = Date.now() + QUIET_MS;
        await upkeep.pass();
        expect((await rows("cam2")).length).toBe(1);
        expect(upkeep.pendingPartitions()).toEqual([]);

        // node-a was only paused: its writer goes on, its commit is refused — and the file node-b indexed stays.
        await feed(w, media, clock, T0, 10, 16);
        expect(await fs.stat(leftover).then(() => true)).toBe(true);
        expect((await rows("cam1")).find((r) => r.path === open1.path)?.epoch).toBe(recovered.epoch);
      } finally {
        await close();
      }
    });

    test("a claim whose first passes come while this node's lease has run out on its clock (late rounds) is not dropped: the file is recovered once the lease is renewed", async () => {
      const { root, clock, leaseClock, lb, a, upkeep, rows, takeOver, close } = await claimScene(d);
      try {
        // node-a dies mid-segment; its file is old by the time node-b claims.
        const w = a.writer("bus-1.cam1", "main");
        w.init(media.init, media.info);
        await feed(w, media, clock, T0, 0, 5);
        const leftover = w.current()!.path;
        await age(path.join(root, leftover), QUIET_MS * 2);
        // node-b's rounds are late: by the time its upkeep hears of the claim, the lease has run out on its own clock.
        lb.onChange(() => leaseClock.advance(3001));
        upkeep.start();
        await takeOver();
        expect(lb.owned().has(partitionOf("bus-1"))).toBe(true);
        expect(lb.owns("bus-1")).toBe(false);
        await upkeep.pass();
        expect((await rows("cam1")).some((r) => r.path === leftover)).toBe(false); // not looked at, not forgotten
        expect(upkeep.pendingPartitions()).toContain(partitionOf("bus-1"));
        // The next round renews (same epoch: no change announced); its pass recovers the file.
        await lb.round();
        expect(lb.owns("bus-1")).toBe(true);
        await upkeep.pass();
        expect((await rows("cam1")).some((r) => r.path === leftover)).toBe(true);
      } finally {
        await close();
      }
    });

    test("a file the paused former owner creates just after the claim (its writer goes on until it notices) is recovered: the claim stays pending for a quiet period", async () => {
      const { root, clock, a, time, upkeep, rows, takeOver, close } = await claimScene(d);
      try {
        // node-a's recording so far is closed and indexed: nothing is left when node-b claims.
        const w = a.writer("bus-1.cam1", "main");
        w.init(media.init, media.info);
        await feed(w, media, clock, T0, 0, 6);
        await w.end("stopped", "test");
        upkeep.start();
        await takeOver();
        await upkeep.pass();
        // node-a was paused, not dead: its writer opens one more segment, and then node-a dies.
        w.init(media.init, media.info);
        await feed(w, media, clock, T0 + 60_000, 6, 8);
        const late = w.current()!.path;
        expect((await rows("cam1")).some((r) => r.path === late)).toBe(false);
        // Still pending: the next pass finds the file (too fresh), and once it is quiet, indexes it.
        await upkeep.pass();
        await age(path.join(root, late), QUIET_MS * 2);
        time.now = Date.now() + QUIET_MS;
        await upkeep.pass();
        expect((await rows("cam1")).some((r) => r.path === late)).toBe(true);
        expect(upkeep.pendingPartitions()).toEqual([]);
      } finally {
        await close();
      }
    });

    test("the blob sweep runs per site on its partition's owner only: a commit's orphaned blob is deleted once old, never by the other node", async () => {
      const { nodes, root, clock, la, lb, openStore, close } = await twoNodes(d, "sweep");
      const blobs = new FsBlobStore(root);
      const sa = await openStore(nodes.a);
      const sb = await openStore(nodes.b);
      // Two sites, each node owning one (b's only partition is bus-2's).
      await la.start({ timers: false });
      const sweepEveryMs = 60_000;
      let now = Date.now();
      const mk = (db: Database, leases: Leases, s: MediaStore, own: (site: string) => boolean) =>
        new MediaUpkeep({
          store: s,
          media: new CentralMedia({ db, blobs, log, nodeId: leases.nodeId }),
          leases: { owns: own, ownsPartition: (p) => leases.ownsPartition(p), owned: () => leases.owned(), onChange: (fn) => leases.onChange(fn), onRound: (fn) => leases.onRound(fn) },
          sites: () => ["bus-1", "bus-2"],
          log,
          quietMs: QUIET_MS,
          sweepGraceMs: 60_000,
          sweepEveryMs,
          now: () => now,
        });
      const ua = mk(nodes.a, la, sa, (s) => s === "bus-1");
      const ub = mk(nodes.b, lb, sb, (s) => s === "bus-2");
      try {
        // Each site: one committed segment (kept) and one blob whose commit crashed before its row.
        const seg = (await (async () => {
          const w = sa.writer("bus-9.cam1", "main");
          w.init(media.init, media.info);
          await feed(w, media, clock, T0, 0, 10);
          return (await sa.segments({ cameraId: "bus-9.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open)[0]!;
        })());
        const data = new Uint8Array(await Bun.file(sa.absPath(seg)).arrayBuffer());
        const orphans: Record<string, string> = {};
        for (const site of ["bus-1", "bus-2"]) {
          const m = new CentralMedia({ db: nodes.a, blobs, log });
          await m.commit({ siteId: site, cameraId: "cam1", stream: "main", startMs: seg.startMs, sha256: seg.sha256!, data });
          const crashing = new CentralMedia({
            db: nodes.a,
            blobs,
            log,
            afterBlobPut: (key) => {
              orphans[site] = key;
              throw new Error("crash between blob and row");
            },
          });
          await crashing.commit({ siteId: site, cameraId: "cam2", stream: "main", startMs: seg.startMs, sha256: seg.sha256!, data }).catch(() => undefined);
        }
        // A file named as the store's writer names it, without a row, in bus-1: recovery's to judge, never the sweep's.
        const writerFile = path.join(root, segmentRelPath("bus-1.cam4", "main", seg.startMs));
        await fs.mkdir(path.dirname(writerFile), { recursive: true });
        await fs.copyFile(sa.absPath(seg), writerFile);
        await age(writerFile, 120_000);
        const exists = async (key: string) => (await blobs.stat(key)) !== null;

        // Due, but the orphans are young: nothing goes.
        now += sweepEveryMs;
        await Promise.all([ua.pass(), ub.pass()]);
        expect(await exists(orphans["bus-1"]!)).toBe(true);
        expect(await exists(orphans["bus-2"]!)).toBe(true);

        // Old enough: only the owner's sweep deletes, each site's own orphan, never a blob a row points at.
        for (const site of ["bus-1", "bus-2"]) await age(blobs.pathOf(orphans[site]!), 120_000);
        now += sweepEveryMs;
        expect(await ua.sweep()).toEqual([orphans["bus-1"]!]);
        expect(await exists(orphans["bus-2"]!)).toBe(true);
        expect(await ub.sweep()).toEqual([orphans["bus-2"]!]);
        const held = await nodes.a.query<{ blob_key: string }>(`SELECT blob_key FROM media_segments WHERE camera_id = 'cam1' AND site_id IN ('bus-1', 'bus-2')`);
        expect(held.length).toBe(2);
        for (const r of held) expect(await exists(r.blob_key)).toBe(true);
        expect(await fs.stat(writerFile).then(() => true)).toBe(true);
      } finally {
        await close(ua, ub, sa, sb);
      }
    });

    test("an upload commit a crash cut between blob and row loses its blob once its node is dead, on the site's owner at once; live nodes' commits in flight are never touched", async () => {
      const { nodes, root, clock, leaseClock, la, lb, openStore, close } = await twoNodes(d, "cut");
      const blobs = new FsBlobStore(root);
      // node-c: a third node, alive throughout (its heartbeat only); an upload may reach any node.
      const lc = new Leases({ db: nodes.a, nodeId: "node-c", clock: leaseClock, heartbeatMs: 1000, leaseMs: 3000 });
      await la.start({ timers: false });
      await lc.start({ timers: false });
      const sa = await openStore(nodes.a);
      const sb = await openStore(nodes.b, lb);
      // The upkeep's clock is the lease clock's time, moved by the test only: heartbeats are written at
      // the lease clock's time, so who looks dead depends on the test's steps, not on how long set-up took.
      const time = { now: leaseClock.now() };
      /** A node's CentralMedia whose next commit waits after its blob put until released (a commit in flight). */
      const pausing = (db: Database, nodeId: string) => {
        let hold: { reached: (key: string) => void; gate: Promise<void> } | null = null;
        const m = new CentralMedia({ db, blobs, log, nodeId, afterBlobPut: async (key) => {
          const h = hold;
          hold = null;
          if (h) {
            h.reached(key);
            await h.gate;
          }
        } });
        const commit = async (cameraId: string) => {
          let release!: () => void;
          const gate = new Promise<void>((r) => (release = r));
          const reached = new Promise<string>((r) => (hold = { reached: r, gate }));
          const done = m.commit({ siteId: "bus-1", cameraId, stream: "main", startMs: seg.startMs, sha256: seg.sha256!, data }).then((r) => r, (e: Error) => e);
          return { key: await reached, release, done };
        };
        return { m, commit };
      };
      const w = sa.writer("bus-9.cam1", "main");
      w.init(media.init, media.info);
      await feed(w, media, clock, T0, 0, 10);
      const seg = (await sa.segments({ cameraId: "bus-9.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open)[0]!;
      const data = new Uint8Array(await Bun.file(sa.absPath(seg)).arrayBuffer());
      const nodeB = pausing(nodes.b, "node-b");
      const upkeep = new MediaUpkeep({ store: sb, media: nodeB.m, leases: lb, sites: () => ["bus-1"], log, quietMs: QUIET_MS, now: () => time.now });
      const exists = async (key: string) => (await blobs.stat(key)) !== null;
      try {
        // node-a: one commit killed between blob and row, one in flight (paused); node-c and node-b: one in flight each.
        let cut = "";
        await new CentralMedia({ db: nodes.a, blobs, log, nodeId: "node-a", afterBlobPut: (key) => {
          cut = key;
          throw new Error("killed between blob and row");
        } }).commit({ siteId: "bus-1", cameraId: "cam2", stream: "main", startMs: seg.startMs, sha256: seg.sha256!, data }).catch(() => undefined);
        const pausedA = await pausing(nodes.a, "node-a").commit("cam3");
        const liveC = await pausing(nodes.a, "node-c").commit("cam4");
        const liveB = await nodeB.commit("cam5");
        upkeep.start();

        // node-a alive: its cut commit looks like one in flight, nothing is touched.
        await upkeep.pass();
        for (const key of [cut, pausedA.key, liveC.key, liveB.key]) expect(await exists(key)).toBe(true);

        // node-a dies (its heartbeat older than a lease): node-b claims bus-1, node-c lives on.
        la.halt();
        const lastHeartbeatA = leaseClock.now();
        leaseClock.advance(3001);
        await lb.start({ timers: false });
        expect(lb.owns("bus-1")).toBe(true);
        // node-b's claim kicked a pass; it may well run before node-c's next round (a loaded machine, CI):
        // here it always does. Time has not passed on the upkeep's clock, so it takes nothing.
        // (Before, the test moved that clock past node-c's heartbeat before node-c's round: a pass
        // that won the race rightly judged node-c dead and took its commit — CI, PostgreSQL.)
        await upkeep.pass();
        for (const key of [cut, pausedA.key, liveC.key, liveB.key]) expect(await exists(key)).toBe(true);
        // node-c's round, then the quiet period after node-a's last heartbeat: only node-a is dead.
        await lc.round();
        time.now = lastHeartbeatA + 1000 + QUIET_MS;
        await upkeep.pass();
        // Both of node-a's blobs go; the live nodes' commits in flight stay.
        expect(await exists(cut)).toBe(false);
        expect(await exists(pausedA.key)).toBe(false);
        expect(await exists(liveC.key)).toBe(true);
        expect(await exists(liveB.key)).toBe(true);

        // node-a was only paused, and its put lands after the reap: its row is refused and it deletes its own blob.
        await blobs.put(pausedA.key, data);
        pausedA.release();
        expect(await pausedA.done).toBeInstanceOf(IntentTakenError);
        expect(await exists(pausedA.key)).toBe(false);
        liveC.release();
        liveB.release();
        expect(await liveC.done).toMatchObject({ outcome: "committed" });
        expect(await liveB.done).toMatchObject({ outcome: "committed" });
        const held = await nodes.a.query<{ camera_id: string; blob_key: string }>(`SELECT camera_id, blob_key FROM media_segments WHERE site_id = 'bus-1' ORDER BY camera_id`);
        expect(held).toEqual([{ camera_id: "cam4", blob_key: liveC.key }, { camera_id: "cam5", blob_key: liveB.key }]);
        for (const r of held) expect(await exists(r.blob_key)).toBe(true);
        // No file of the site without its row, no intent left.
        const files: string[] = [];
        for await (const b of blobs.list(CentralMedia.sitePrefix("bus-1"))) files.push(b.key);
        expect(files.sort()).toEqual([liveC.key, liveB.key].sort());
        expect(await nodes.a.query(`SELECT blob_key FROM media_intents`)).toEqual([]);
      } finally {
        await close(upkeep, sa, sb, lc);
      }
    });

    test("temp files of interrupted blob puts go at the owner's sweep once their writer is dead or restarted, whoever claimed what; a live node's put in flight never, however old", async () => {
      const { nodes, root, leaseClock, la, lb, openStore, close } = await twoNodes(d, "temps");
      // node-b owns every partition from the start: nobody claims anything when node-a dies.
      await lb.start({ timers: false });
      await la.start({ timers: false });
      expect(lb.owns("bus-1")).toBe(true);
      const sb = await openStore(nodes.b, lb);
      const time = { now: leaseClock.now() };
      const graceMs = 600_000;
      const upkeep = new MediaUpkeep({ store: sb, media: new CentralMedia({ db: nodes.b, blobs: new FsBlobStore(root, { writer: "node-b" }), log, nodeId: "node-b" }), leases: lb, sites: () => ["bus-1"], log, quietMs: QUIET_MS, sweepGraceMs: graceMs, now: () => time.now });
      const dir = path.join(root, "media", "bus-1.cam1", "main", "2025-12-03");
      await fs.mkdir(dir, { recursive: true });
      /** A put's temp file as a killed (or still running) put leaves it, last written at `mtimeMs`. */
      const temp = async (writer: string | null, mtimeMs: number) => {
        const f = path.join(dir, `${T0}-${crypto.randomUUID().slice(0, 8)}.mp4.tmp-${writer === null ? "" : `${writer}~`}${crypto.randomUUID()}`);
        await fs.writeFile(f, "half a segment");
        await fs.utimes(f, new Date(mtimeMs), new Date(mtimeMs));
        return f;
      };
      const exists = (f: string) => fs.stat(f).then(() => true, () => false);
      // node-c restarts under the same id: a temp its earlier process left, then one its new process is writing.
      const t0 = leaseClock.now();
      const earlierC = await temp("node-c", t0 - 2 * graceMs);
      const lc = new Leases({ db: nodes.a, nodeId: "node-c", clock: leaseClock, heartbeatMs: 1000, leaseMs: 3000 });
      try {
        await lc.start({ timers: false });
        const liveC = await temp("node-c", t0 + 1);
        // node-a (alive, owner of nothing) has a put in flight, and so has node-b itself.
        const deadA = await temp("node-a", t0 + 1);
        const ownB = await temp("node-b", Date.now() + 1);
        // Later (every node alive, their files quiet); two temps naming nobody, one older than the grace.
        leaseClock.advance(2 * QUIET_MS);
        for (const l of [lb, la, lc]) await l.round();
        expect(lb.owns("bus-1")).toBe(true);
        time.now = leaseClock.now();
        const oldUntagged = await temp(null, time.now - graceMs * 2);
        const youngUntagged = await temp(null, time.now - QUIET_MS * 2);

        // node-a alive: only node-c's earlier process's temp and the old one naming nobody go.
        // One walk of the site's directories does both the blob sweep and the temp sweep.
        const readdir = spyOn(fs, "readdir");
        let walked: string[];
        try {
          expect(await upkeep.sweep()).toEqual([]);
        } finally {
          walked = readdir.mock.calls.map((c) => String(c[0]));
          readdir.mockRestore();
        }
        expect(walked).toContain(dir);
        expect(walked.filter((d, i) => walked.indexOf(d) !== i)).toEqual([]);
        expect(await exists(earlierC)).toBe(false);
        expect(await exists(oldUntagged)).toBe(false);
        for (const f of [liveC, deadA, ownB, youngUntagged]) expect(await exists(f)).toBe(true);

        // Much later node-a has died; node-b already owned bus-1, so no claim recovery ran: the sweep removes its temp.
        la.halt();
        leaseClock.advance(2 * graceMs);
        await lb.round();
        await lc.round();
        expect(lb.owns("bus-1")).toBe(true);
        time.now = leaseClock.now();
        await upkeep.sweep();
        expect(await exists(deadA)).toBe(false);
        // Live nodes' puts (node-c's new process, node-b's own) stay, though their files are older than the grace.
        for (const f of [liveC, ownB]) expect(await exists(f)).toBe(true);
      } finally {
        await close(upkeep, sb, lc);
      }
    });
  });
}
