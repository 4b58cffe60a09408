/**
 * The upload receiver with central's index in the database (storage.index: database), on both
 * drivers: a whole segment commits through central/media's CentralMedia.commit — a blob under
 * a fresh key, then its row by key — so two nodes receiving the same segment at once (an
 * edge's resend after a failover) end with one row and one blob, and the store's readers and
 * its restart see what was committed. And with the store's own (file) index, where a segment's
 * import and its commit row are two steps: a node stopped between them logs the row later.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore, type SegmentRecord } from "../../lib/store/index.ts";
import { FsBlobStore } from "../../lib/blob/index.ts";
import { feed, makeMedia } from "../../lib/store/testdata/media.ts";
import { H, chunkHashes } from "../../federation/transfer/index.ts";
import { migrateUp, type Database } from "../db/index.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { openMigratedPair } from "../db/testkit.ts";
import { CentralMedia, PgStoreIndex } from "../media/index.ts";
import { COMMIT_RETRY_AFTER_S, Receiver } from "./receiver.ts";
import { EdgeTransfer } from "../../edge/transfer/index.ts";
import { TRANSFER_VERSION, paths, type WorkItem } from "../../federation/transfer/index.ts";
import { mountFederation } from "./routes.ts";
import { Hono } from "hono";
import type { FederationEnv } from "../index.ts";

const log = new Logger({ component: "t", sink: new MemorySink(), level: "error" });
const T0 = 1_764_800_000_000;
const { drivers, tmp } = driversInTempDir("receiver");
let seg: SegmentRecord;
let data: Uint8Array<ArrayBuffer>;

beforeAll(async () => {
  // An edge's segment: recorded by a store of its own (the edge's DuckDB index).
  const clock = new ManualClock(T0);
  const edge = await MediaStore.open({ root: path.join(tmp(), "edge"), clock, log, segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = edge.writer("cam1", "main");
  const media = await makeMedia(tmp(), 6);
  w.init(media.init, media.info);
  await feed(w, media, clock, T0, 0, 10);
  seg = (await edge.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: 2e12 })).filter((s) => !s.open)[0]!;
  data = new Uint8Array(await Bun.file(edge.absPath(seg)).arrayBuffer());
  await edge.close();
});

const upload = (r: Receiver) =>
  r.receive(
    "bus-1",
    "cam1",
    "main",
    seg.startMs,
    new Headers({ [H.offset]: "0", [H.bytes]: String(data.length), [H.sha256]: seg.sha256!, [H.chunkSize]: "65536", [H.chunks]: chunkHashes(data, 65536).slice(0, 64).join(",") }),
    new Blob([data]).stream(),
  );

let n = 0;
/** One central node on a new database and store directory named `name`-n: its store reads the rows central/media commits. */
const oneNode = async (d: (typeof drivers)[number], name: string) => {
  const dir = path.join(tmp(), `${name}${++n}`);
  const db = await d.open();
  await migrateUp(db);
  const root = path.join(dir, "store");
  const clock = new ManualClock(T0 + 60_000);
  const store = await MediaStore.open({ root, clock, log, segmentDurationMs: 2000, minFreeBytes: 0, index: async () => new PgStoreIndex(db, () => clock.now()) });
  return { dir, db, root, clock, store };
};

for (const d of drivers) {
  describe.skipIf(d.skip)(`receiver committing through CentralMedia: ${d.name}`, () => {
    test("two nodes receiving one segment at once: one row, one blob under a commit key; readers and a restart see it", async () => {
      const dir = path.join(tmp(), `n${++n}`);
      const { a: dba, b: dbb, close: closeDbs } = await openMigratedPair(d);
      const root = path.join(dir, "store");
      const clock = new ManualClock(T0 + 60_000);
      const open = (db: Database) => MediaStore.open({ root, clock, log, segmentDurationMs: 2000, minFreeBytes: 0, index: async () => new PgStoreIndex(db, () => clock.now()) });
      const node = async (db: Database, name: string) => {
        const store = await open(db);
        const media = new CentralMedia({ db, blobs: new FsBlobStore(root), clock, log });
        return { store, receiver: new Receiver({ dir: path.join(dir, `partial-${name}`), store, media, db, clock, log }) };
      };
      const a = await node(dba, "a");
      const b = await node(dbb, "b");
      try {
        const [ra, rb] = await Promise.all([upload(a.receiver), upload(b.receiver)]);
        expect([ra, rb]).toEqual([
          { offset: data.length, committed: true },
          { offset: data.length, committed: true },
        ]);
        const rows = await dba.query<{ blob_key: string; sha256: string; has_frags: boolean }>(`SELECT blob_key, sha256, frags IS NOT NULL AS has_frags FROM media_segments WHERE site_id = $1 AND camera_id = $2`, ["bus-1", "cam1"]);
        expect(rows.length).toBe(1);
        expect(rows[0]!.sha256).toBe(seg.sha256!);
        expect(rows[0]!.has_frags).toBe(true);
        // CentralMedia's key (a fresh one per write), not the store's <start>.mp4 file name.
        expect(rows[0]!.blob_key).toMatch(new RegExp(`^media/bus-1\\.cam1/main/\\d{4}-\\d{2}-\\d{2}/${seg.startMs}-[0-9a-f]{8}\\.mp4$`));
        const blobs: string[] = [];
        for await (const bl of new FsBlobStore(root).list("media/bus-1.")) blobs.push(bl.key);
        expect(blobs).toEqual([rows[0]!.blob_key]);
        // Committed once: one tr_commits row, one commit counted over both nodes. The other upload either raced
        // into its own commit (a duplicate) or, when it started after the first had committed, found the segment held.
        const other = (s: Receiver["stats"]) => s.duplicateCommits + s.alreadyHad;
        expect(a.receiver.stats.commits + b.receiver.stats.commits + other(a.receiver.stats) + other(b.receiver.stats)).toBe(2);
        expect(a.receiver.stats.commits + b.receiver.stats.commits).toBe(1);
        // Every reader goes through the store: the timeline and the bytes.
        const held = await b.store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 });
        expect(held.map((s) => s.sha256)).toEqual([seg.sha256!]);
        expect(new Bun.CryptoHasher("sha256").update(await Bun.file(b.store.absPath(held[0]!)).arrayBuffer()).digest("hex")).toBe(seg.sha256!);
        expect(await a.receiver.have("bus-1", "cam1", "main", seg.startMs, seg.sha256!, data.length)).toBe(true);
        // A restart finds the blob behind its row: nothing to report.
        await a.store.close();
        a.store = await open(dba);
        expect(a.store.recovery.actions).toEqual([]);
      } finally {
        await a.store.close();
        await b.store.close();
        await closeDbs();
      }
    });

    test("the edge's status probe during a slow commit is answered when the commit ends (committed), never with 'every byte, not committed'", async () => {
      const { dir, db, root, clock, store } = await oneNode(d, "slow");
      // The commit stalls between its durable blob and its row (a loaded database or disk).
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      let stalled = false;
      const media = new CentralMedia({ db, blobs: new FsBlobStore(root), clock, log, afterBlobPut: async () => void ((stalled = true), await gate) });
      const receiver = new Receiver({ dir: path.join(dir, "partial"), store, media, db, clock, log });
      const app = new Hono<FederationEnv>();
      app.use(async (c, next) => {
        c.set("peer", { siteId: "bus-1" } as never);
        await next();
      });
      mountFederation(app, null as never, receiver);
      try {
        const put = upload(receiver);
        while (!stalled) await Bun.sleep(20);
        // The edge's watchdog probes while its PUT waits for the answer.
        const probe = Promise.resolve(app.request(`/federation/v1/transfer/segments/cam1/main/${seg.startMs}?bytes=${data.length}&sha256=${seg.sha256}`)).then((r) => r.json());
        expect(await Promise.race([probe, Bun.sleep(500).then(() => "still waiting")])).toBe("still waiting");
        open();
        expect(await put).toEqual({ offset: data.length, committed: true });
        expect(await probe).toEqual({ offset: data.length, committed: true });
        // No commit running: answered at once.
        expect(await (await app.request(`/federation/v1/transfer/segments/cam1/main/${seg.startMs + 5}?bytes=${data.length}&sha256=${seg.sha256}`)).json()).toEqual({ offset: 0, committed: false });
      } finally {
        open();
        await store.close();
        await db.close();
      }
    });

    test("a commit whose intent another node's upkeep took (this node looked dead) is answered as 'send again' (409 from 0), not as bad data: the edge's sender resends and central ends with one copy", async () => {
      const { dir, db, root, clock, store } = await oneNode(d, "taken");
      const blobs = new FsBlobStore(root);
      // node-a receives; its heartbeat had lapsed when node-b's upkeep reaped its first commit's intent (node-a was only paused).
      await db.run(`INSERT INTO central_nodes (node_id, api_url, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4)`, ["node-a", null, 0, 0]);
      let taken = 0;
      const media = new CentralMedia({ db, blobs, clock, log, nodeId: "node-a", afterBlobPut: async () => {
        if (taken > 0) return;
        taken += (await new CentralMedia({ db, blobs, log, nodeId: "node-b" }).reapCutCommits(() => true, Date.now())).length;
        await db.run(`UPDATE central_nodes SET heartbeat_ms = $1 WHERE node_id = $2`, [Date.now() + 3_600_000, "node-a"]);
      } });
      const receiver = new Receiver({ dir: path.join(dir, "partial"), store, media, db, clock, log });
      const { edge, answers, close } = await edgeSending(receiver, dir);
      try {
        await edge.start();
        while (edge.status().stats.committed === 0) await Bun.sleep(50);
        expect(taken).toBe(1);
        // Answered "send again from 0", never "bad data": nothing was wrong with the bytes.
        expect(answers.map((a) => a.status)).toEqual([409, 200]);
        expect(receiver.stats.badChunks).toBe(0);
        expect(edge.status().stats.resent409).toBe(1);
        // One copy at central: one row with the segment's hash, its blob the only one of the site, no intent left, committed once.
        const rows = await db.query<{ blob_key: string; sha256: string }>(`SELECT blob_key, sha256 FROM media_segments WHERE site_id = $1 AND camera_id = $2`, ["bus-1", "cam1"]);
        expect(rows.map((r) => r.sha256)).toEqual([seg.sha256!]);
        const files: string[] = [];
        for await (const b of blobs.list(CentralMedia.sitePrefix("bus-1"))) files.push(b.key);
        expect(files).toEqual([rows[0]!.blob_key]);
        expect(new Bun.CryptoHasher("sha256").update((await blobs.get(rows[0]!.blob_key))!).digest("hex")).toBe(seg.sha256!);
        expect(await db.query(`SELECT blob_key FROM media_intents`)).toEqual([]);
        expect(receiver.stats.commits).toBe(1);
        expect((await db.query(`SELECT 1 FROM tr_commits WHERE site_id = $1`, ["bus-1"])).length).toBe(1);
      } finally {
        await close();
        await store.close();
        await db.close();
      }
    }, 60_000);

    test("a commit that fails for a reason other than its bytes (the database, injected) is answered 503 with Retry-After, not counted as bad data; the edge keeps the segment, tries again, and central commits it once", async () => {
      const { dir, db, root, clock, store } = await oneNode(d, "unavailable");
      let failures = 0;
      const media = new CentralMedia({ db, blobs: new FsBlobStore(root), clock, log, afterBlobPut: async () => {
        if (failures++ === 0) throw new Error("connection disconnected");
      } });
      const sink = new MemorySink();
      const receiver = new Receiver({ dir: path.join(dir, "partial"), store, media, db, clock, log: new Logger({ component: "t", sink, level: "info" }) });
      const { edge, edgeClock, answers, close } = await edgeSending(receiver, dir);
      try {
        await edge.start();
        // The edge waits as asked (on its clock: edge/transfer/engine.test.ts shows it sends nothing before).
        while (answers.length === 0) await Bun.sleep(50);
        edgeClock.advance(COMMIT_RETRY_AFTER_S * 1000);
        while (edge.status().stats.committed === 0) await Bun.sleep(50);
        expect(answers).toEqual([{ status: 503, retryAfter: String(COMMIT_RETRY_AFTER_S) }, { status: 200, retryAfter: null }]);
        expect(receiver.stats).toMatchObject({ badChunks: 0, commits: 1 });
        expect(edge.status().stats.resent409).toBe(0);
        // Logged once, as an error; the edge sent the segment again, whole.
        expect(sink.records.filter((r) => r.level === "error").map((r) => r.msg)).toEqual(["segment not committed: central could not store it (not a fault of its bytes); the edge sends it again"]);
        expect(receiver.stats.bytesReceived).toBe(2 * data.length);
        const rows = await db.query<{ sha256: string }>(`SELECT sha256 FROM media_segments WHERE site_id = $1 AND camera_id = $2`, ["bus-1", "cam1"]);
        expect(rows.map((r) => r.sha256)).toEqual([seg.sha256!]);
      } finally {
        await close();
        await store.close();
        await db.close();
      }
    }, 60_000);
  });
}

/** A database whose tr_commits inserts fail while `dead()`: the node stopped right after a segment's import. */
function diesBeforeCommitRow(db: Database, dead: () => boolean): Database {
  return new Proxy(db, {
    get(t, p) {
      if (p === "run")
        return async (sql: string, params?: unknown[]) => {
          if (dead() && sql.startsWith("INSERT INTO tr_commits")) throw new Error("node stopped before its commit row");
          return t.run(sql, params as never);
        };
      const v = Reflect.get(t, p);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
}

for (const d of drivers) {
  describe.skipIf(d.skip)(`receiver importing into the store's own index (file index): ${d.name}`, () => {
    const fileIndexNode = async (name: string) => {
      const dir = path.join(tmp(), `${name}${++n}`);
      const db = await d.open();
      await migrateUp(db);
      const store = await MediaStore.open({ root: path.join(dir, "store"), clock: new ManualClock(T0 + 60_000), log, segmentDurationMs: 2000, minFreeBytes: 0 });
      const held = async () => (await store.segments({ cameraId: "bus-1.cam1", stream: "main", fromMs: 0, toMs: 2e12 })).map((s) => s.sha256);
      const commitRows = () => db.query<{ sha256: string }>(`SELECT sha256 FROM tr_commits WHERE site_id = $1 AND camera_id = $2`, ["bus-1", "cam1"]);
      return { dir, db, store, held, commitRows, partial: path.join(dir, "partial"), clock: new ManualClock(T0 + 60_000) };
    };

    test("a node stopped between a segment's import and its commit row: its next start logs the row (counted once); the edge's resend is answered 'committed'", async () => {
      const { db, store, held, commitRows, partial, clock } = await fileIndexNode("fi-restart");
      try {
        await expect(upload(new Receiver({ dir: partial, store, db: diesBeforeCommitRow(db, () => true), clock, log }))).rejects.toThrow("node stopped before its commit row");
        expect(await held()).toEqual([seg.sha256!]);
        expect(await commitRows()).toEqual([]);
        // The next start, before any upload is received (central/transfer/index.ts).
        const restarted = new Receiver({ dir: partial, store, db, clock, log });
        expect(await restarted.completePendingCommits()).toBe(1);
        expect(await commitRows()).toEqual([{ sha256: seg.sha256! }]);
        // The edge never had its answer: it sends the segment again.
        expect(await upload(restarted)).toEqual({ offset: data.length, committed: true });
        expect(await commitRows()).toEqual([{ sha256: seg.sha256! }]);
        expect(restarted.stats).toMatchObject({ commits: 1, duplicateCommits: 0, alreadyHad: 1 });
        // Nothing left to complete at the start after.
        expect(await new Receiver({ dir: partial, store, db, clock, log }).completePendingCommits()).toBe(0);
      } finally {
        await store.close();
        await db.close();
      }
    });

    test("a commit row that failed after the import (the database, without a restart): the edge's resend finds the segment held and logs its row", async () => {
      const { db, store, held, commitRows, partial, clock } = await fileIndexNode("fi-resend");
      let dead = true;
      const receiver = new Receiver({ dir: partial, store, db: diesBeforeCommitRow(db, () => dead), clock, log });
      try {
        await expect(upload(receiver)).rejects.toThrow("node stopped before its commit row");
        dead = false;
        expect(await upload(receiver)).toEqual({ offset: data.length, committed: true });
        expect(await held()).toEqual([seg.sha256!]);
        expect(await commitRows()).toEqual([{ sha256: seg.sha256! }]);
        expect(receiver.stats).toMatchObject({ commits: 1, alreadyHad: 1 });
      } finally {
        await store.close();
        await db.close();
      }
    });

    test("an import that failed after the segment was in the store (answered 503): the edge's resend finds it held and logs its commit row", async () => {
      const { db, store, held, commitRows, partial, clock } = await fileIndexNode("fi-late");
      const late = new Proxy(store, {
        get(t, p) {
          if (p === "importSegment")
            return async (...a: Parameters<MediaStore["importSegment"]>) => {
              await t.importSegment(...a);
              throw new Error("disk I/O error after the segment was in");
            };
          const v = Reflect.get(t, p);
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
      const receiver = new Receiver({ dir: partial, store: late, db, clock, log });
      try {
        await expect(upload(receiver)).rejects.toMatchObject({ status: 503 });
        expect(await held()).toEqual([seg.sha256!]);
        expect(await upload(receiver)).toEqual({ offset: data.length, committed: true });
        expect(await commitRows()).toEqual([{ sha256: seg.sha256! }]);
      } finally {
        await store.close();
        await db.close();
      }
    });

    test("a commit row written before an import that never happened is dropped at start (the edge sends the segment again)", async () => {
      const { db, store, commitRows, partial, clock } = await fileIndexNode("fi-none");
      const broken = new Proxy(store, {
        get(t, p) {
          if (p === "importSegment") return async () => Promise.reject(new Error("node stopped during the import"));
          const v = Reflect.get(t, p);
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
      try {
        await expect(upload(new Receiver({ dir: partial, store: broken, db, clock, log }))).rejects.toThrow();
        expect(await new Receiver({ dir: partial, store, db, clock, log }).completePendingCommits()).toBe(0);
        expect(await commitRows()).toEqual([]);
      } finally {
        await store.close();
        await db.close();
      }
    });
  });
}

/**
 * An edge's real sender (EdgeTransfer) uploading `seg` to `receiver` through central's routes:
 * central's work answer cut to this one segment, wanted until held (a short wait stands for the
 * long poll). `answers` lists each PUT's status and Retry-After.
 */
async function edgeSending(receiver: Receiver, dir: string) {
  const app = new Hono<FederationEnv>();
  const answers: { status: number; retryAfter: string | null }[] = [];
  app.use(async (c, next) => {
    c.set("peer", { siteId: "bus-1" } as never);
    await next();
    if (c.req.method === "PUT") answers.push({ status: c.res.status, retryAfter: c.res.headers.get("retry-after") });
  });
  app.post(paths.work, async (c) => {
    const held = await receiver.have("bus-1", "cam1", "main", seg.startMs, seg.sha256!, data.length);
    if (held) await Bun.sleep(200);
    const item: WorkItem = { cameraId: "cam1", stream: "main", startMs: seg.startMs, bytes: data.length, offset: await receiver.offsetOf("bus-1", "cam1", "main", seg.startMs, data.length), cls: "request", links: null, deadlineMs: null };
    return c.json({ v: TRANSFER_VERSION, items: held ? [] : [item], release: [], chunkSize: 65536 });
  });
  mountFederation(app, null as never, receiver);
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  const edgeStore = await MediaStore.open({ root: path.join(tmp(), "edge"), clock: new ManualClock(T0), log, segmentDurationMs: 2000, minFreeBytes: 0 });
  /** The sender's clock: it waits on it when central answers 503 with Retry-After. */
  const edgeClock = new ManualClock(T0);
  const edge = new EdgeTransfer({ dataDir: path.join(dir, "edge-data"), store: edgeStore, federationUrl: `http://127.0.0.1:${server.port}`, tls: { ca: "", cert: "", key: "" }, policy: () => null, link: "wifi", clock: edgeClock, log, workers: 1, pollWaitMs: 1000, refreshMs: 100 });
  return {
    edge,
    edgeClock,
    answers,
    close: async () => {
      await edge.stop();
      await server.stop(true);
      await edgeStore.close();
    },
  };
}

