import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { feed, makeMedia, type Media } from "../lib/store/testdata/media.ts";
import type { AuditInput } from "./audit/index.ts";
import { parseCentralConfig } from "./config.ts";
import { CentralRetention, ownedCameras } from "./retention.ts";

setDefaultTimeout(60_000);
let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const quiet = () => new Logger({ component: "retention", sink: new MemorySink() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "central-retention-"));
  media = await makeMedia(dir, 10);
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function record(store: MediaStore, clock: ManualClock, cameraId: string, base: number, frags: number) {
  const w = store.writer(cameraId, "main");
  w.init(media.init, media.info);
  await feed(w, media, clock, base, 0, frags);
  await w.end("stopped");
}

test("config: storage and retention keys are strict and have defaults", () => {
  const c = parseCentralConfig({});
  expect(c.storage.retentionIntervalMs).toBe(60_000);
  expect(c.storage.maxTotalBytes).toBeUndefined();
  expect(c.retention).toEqual({ sites: {} });
  expect(parseCentralConfig({ retention: { maxAgeHours: 720, sites: { "bus-101": { maxBytes: 1000 } } }, storage: { maxTotalBytes: 5e9 } }).retention.sites["bus-101"]).toEqual({ maxBytes: 1000 });
  expect(() => parseCentralConfig({ retention: { maxAgeHour: 1 } } as never)).toThrow(/maxAgeHour/);
  expect(() => parseCentralConfig({ storage: { quota: 1 } } as never)).toThrow(/quota/);
  expect(() => parseCentralConfig({ retention: { sites: { x: { maxAge: 1 } } } } as never)).toThrow(/maxAge/);
  expect(() => parseCentralConfig({ retention: { maxAgeHours: -1 } })).toThrow();
});

test("age retention per camera with a per-site override (by name), locks honoured, every deletion audited", async () => {
  const clock = new ManualClock(T0);
  const store = await MediaStore.open({ root: join(dir, "store"), clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  // 20 s each (10 segments of 2 s): bus-101-abc is kept 10 s by its override, the rest 1 h
  await record(store, clock, "bus-101-abc.cam1", T0, 58);
  await record(store, clock, "bus-102-def.cam1", T0, 58);
  const lock = await store.createLock({ cameraId: "bus-101-abc.cam1", startMs: T0 + 500, endMs: T0 + 1500, reason: "case 7", createdBy: "op" });
  const audits: AuditInput[] = [];
  const config = parseCentralConfig({ retention: { maxAgeHours: 1, sites: { "bus-101": { maxAgeHours: 10 / 3600 } } } }).retention;
  const r = new CentralRetention({ store, config, siteName: (id) => ({ "bus-101-abc": "bus-101", "bus-102-def": "bus-102" })[id], audit: (a) => audits.push(a), log: quiet() });
  expect(r.policyOf("bus-101-abc.cam1")).toEqual({ maxAgeMs: 10_000 });
  expect(r.policyOf("bus-102-def.cam1")).toEqual({ maxAgeMs: 3_600_000 });

  clock.set(T0 + 20_000);
  const out = await r.run();
  // segments ending ≤ now − 10 s, except the locked first one
  expect(out.deleted).toBe(4);
  const left = await store.segments({ cameraId: "bus-101-abc.cam1", fromMs: T0, toMs: T0 + 60_000 });
  expect(left[0]!.startMs).toBe(T0);
  expect(left.map((s) => s.startMs - T0).slice(1, 2)).toEqual([10_000]);
  expect((await store.segments({ cameraId: "bus-102-def.cam1", fromMs: T0, toMs: T0 + 60_000 })).length).toBe(10);
  expect(audits).toEqual([
    {
      user: "system",
      action: "retention",
      subject: "central.store",
      siteId: "bus-101-abc",
      cameraId: "bus-101-abc.cam1",
      fromMs: T0 + 2000,
      toMs: expect.any(Number) as unknown as number,
      outcome: "ok",
      detail: { segments: 4, bytes: expect.any(Number) as unknown as number, maxAgeHours: 10 / 3600 },
    },
  ]);
  expect(audits[0]!.toMs).toBeGreaterThanOrEqual(T0 + 9000);

  // nothing more to delete: no audit record
  expect((await r.run()).deleted).toBe(0);
  expect(audits.length).toBe(1);
  // the lock ends: the locked segment goes at the next pass
  await store.deleteLock(lock.id);
  expect((await r.run()).deleted).toBe(1);
  expect(audits.length).toBe(2);
  await store.close();
});

test("bytes retention per camera (central-wide default)", async () => {
  const clock = new ManualClock(T0);
  const store = await MediaStore.open({ root: join(dir, "store-bytes"), clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0 });
  await record(store, clock, "bus-103-x.cam2", T0, 58);
  const all = await store.segments({ cameraId: "bus-103-x.cam2", fromMs: T0, toMs: T0 + 60_000 });
  const total = all.reduce((n, s) => n + s.bytes, 0);
  const audits: AuditInput[] = [];
  const r = new CentralRetention({ store, config: parseCentralConfig({ retention: { maxBytes: total - 1 } }).retention, siteName: () => undefined, audit: (a) => audits.push(a), log: quiet() });
  expect((await r.run()).deleted).toBe(1);
  expect(audits[0]).toMatchObject({ cameraId: "bus-103-x.cam2", fromMs: T0, detail: { segments: 1, maxBytes: total - 1 } });
  await store.close();
});

test("several nodes on one store: only the partition owner's pass deletes (and audits) a site's footage and previews", async () => {
  const clock = new ManualClock(T0);
  // This node owns bus-201's partition, not bus-202's (central/cluster decides it in the product).
  const owns = (siteId: string) => siteId === "bus-201";
  const store = await MediaStore.open({ root: join(dir, "store-owner"), clock, log: quiet(), segmentDurationMs: 2000, minFreeBytes: 0, retentionScope: ownedCameras(owns) });
  await record(store, clock, "bus-201.cam1", T0, 38);
  await record(store, clock, "bus-202.cam1", T0, 38);
  const audits: AuditInput[] = [];
  const asked = new Map<string, object>();
  const config = parseCentralConfig({ retention: { maxAgeHours: 1 } }).retention;
  const r = new CentralRetention({
    store,
    config,
    siteName: () => undefined,
    audit: (a) => audits.push(a),
    log: quiet(),
    owns,
    previews: async (policyOf) => {
      for (const id of ["bus-201.cam1", "bus-202.cam1"]) asked.set(id, policyOf(id));
      return [];
    },
  });
  clock.set(T0 + 2 * 3_600_000);
  const out = await r.run();
  expect(out.deleted).toBeGreaterThan(0);
  expect(audits.map((a) => a.cameraId)).toEqual(["bus-201.cam1"]);
  expect((await store.cameras()).map((c) => c.cameraId)).toEqual(["bus-202.cam1"]);
  expect(asked.get("bus-201.cam1")).toEqual({ maxAgeMs: 3_600_000 });
  expect(asked.get("bus-202.cam1")).toEqual({});
  await store.close();
});
