/**
 * Control plane end to end in one process: real central (aedes over mTLS, DuckDB mirror),
 * a real enrolled edge identity, a real MediaStore fed with GStreamer fMP4, and the edge
 * uplink. Covers device tree, index mirror, events, desired config, commands, health,
 * protocol versioning and the share filter (every broker message captured).
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MediaStore } from "../lib/store/index.ts";
import { makeMedia, type Media } from "../lib/store/testdata/media.ts";
import { startUplink, type Uplink, type UplinkCamera } from "../edge/uplink/index.ts";
import { topics } from "../federation/protocol/index.ts";
import { enrollEdge, quiet, record, startTestCentral, until, type TestCentral } from "./lib/cp.ts";

setDefaultTimeout(60_000);

let root: string;
let tc: TestCentral;
let store: MediaStore;
let media: Media;
let uplink: Uplink;
let siteId: string;
const captured: string[] = [];
const cams: UplinkCamera[] = [
  { id: "cam1", name: "Front door", enabled: true, streams: [{ kind: "main", codec: "avc1.42c00d", width: 320, height: 240, state: "recording", bitrateKbps: 800, fps: 15 }] },
  { id: "cam2", name: "Cabin", enabled: true, streams: [{ kind: "main", state: "recording", bitrateKbps: 700, fps: 15 }] },
  { id: "secret", name: "Driver private", enabled: true, streams: [{ kind: "main", state: "recording", bitrateKbps: 500, fps: 15 }] },
];
const applied: number[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "cp-"));
  media = await makeMedia(root, 4);
  tc = await startTestCentral(root);
  tc.central.broker.on("publish", (packet) => {
    if (!packet.topic.startsWith("$SYS")) captured.push(packet.topic + " " + packet.payload.toString());
  });
  const edgeDir = path.join(root, "edge");
  const id = await enrollEdge(tc.central, "bus 1", edgeDir);
  siteId = id.siteId;
  store = await MediaStore.open({ root: path.join(edgeDir, "store"), segmentDurationMs: 1000, minFreeBytes: 0, log: quiet() });
  uplink = await startUplink({
    dataDir: edgeDir,
    identity: id,
    store,
    cameras: () => cams,
    share: ["cam1", "cam2", "cam3"],
    retention: () => ({ maxAgeMs: 7 * 86_400_000 }),
    applyConfig: (c, v) => {
      if (c.retention?.maxAgeHours !== undefined && c.retention.maxAgeHours < 1) throw new Error("retention.maxAgeHours below 1 h is not allowed on this edge");
      applied.push(v);
    },
    commands: { boom: () => { throw new Error("kaput"); } },
    log: quiet("edge"),
    intervals: { syncMs: 200, treeMs: 200, healthMs: 500, digestMs: 1000, ackTimeoutMs: 2000 },
  });
  await until("uplink connected", () => uplink.status().connected);
});

afterAll(async () => {
  await uplink?.stop();
  await store?.close();
  await tc?.close();
  await rm(root, { recursive: true, force: true });
});

describe("control plane", () => {
  test("device tree: shared cameras appear; add, rename and remove show within 5 s", async () => {
    const list = await until("cameras at central", async () => {
      const r = await tc.api<{ cameras: { id: string; name: string; streams: { codec?: string }[] }[] }>("GET", "/api/v1/cameras");
      return r.body.cameras.length === 2 ? r.body.cameras : undefined;
    });
    expect(list.map((c) => c.id).sort()).toEqual([`${siteId}.cam1`, `${siteId}.cam2`]);
    expect(list.find((c) => c.id.endsWith("cam1"))!.streams[0]!.codec).toBe("avc1.42c00d");

    const t0 = Date.now();
    cams.push({ id: "cam3", name: "Rear", enabled: true, streams: [{ kind: "main", state: "recording", bitrateKbps: 600, fps: 15 }] });
    cams[0]!.name = "Front door (renamed)";
    cams.splice(1, 1); // cam2 removed
    await until(
      "tree change at central",
      async () => {
        const r = await tc.api<{ cameras: { id: string; name: string }[] }>("GET", "/api/v1/cameras");
        const ids = r.body.cameras.map((c) => c.id).sort();
        return ids.join() === [`${siteId}.cam1`, `${siteId}.cam3`].join() && r.body.cameras[0]!.name === "Front door (renamed)";
      },
      5000,
      50,
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    const one = await tc.api<{ id: string; siteId: string; channel: string; online: boolean }>("GET", `/api/v1/cameras/${siteId}.cam3`);
    expect(one.body).toMatchObject({ siteId, channel: "cam3", online: true });
    expect((await tc.api("GET", `/api/v1/cameras/${siteId}.secret`)).status).toBe(404);
  });

  test("index mirror: segments and gaps reach central; timeline says where and until when", async () => {
    const base = Date.now() - 60_000;
    await record(store, media, "cam1", 0, 8, base);
    await store.writer("cam1", "main").end("camera-offline", "test");
    await record(store, media, "cam1", 8, 8, base + 10_000);
    await record(store, media, "secret", 0, 8, base);
    await uplink.syncNow();
    const edgeSegs = (await store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: Date.now() })).filter((s) => !s.open);
    expect(edgeSegs.length).toBeGreaterThan(2);
    const tl = await until("timeline at central", async () => {
      const r = await tc.api<{ ranges: { start: string; end: string; held: string; edgeOverwriteAt: string | null }[]; gaps: { reason: string }[] }>(
        "GET",
        `/api/v1/cameras/${siteId}.cam1/timeline?from=${new Date(base - 1000).toISOString()}&to=${new Date().toISOString()}`,
      );
      return r.body.ranges?.length === 2 && r.body.gaps.length >= 1 ? r.body : undefined;
    });
    expect(tl.ranges.every((r) => r.held === "edge")).toBe(true);
    expect(tl.gaps.some((g) => g.reason === "camera-offline")).toBe(true);
    await uplink.digestNow();
    await until("retention horizon at central", async () => {
      const r = await tc.api<{ ranges: { edgeOverwriteAt: string | null; start: string }[] }>("GET", `/api/v1/cameras/${siteId}.cam1/timeline?from=${new Date(base - 1000).toISOString()}`);
      const first = r.body.ranges[0];
      return first?.edgeOverwriteAt ? Date.parse(first.edgeOverwriteAt) - Date.parse(first.start) === 7 * 86_400_000 : undefined;
    });
    const mirror = await tc.sites.timeline(siteId, "cam1", "main", 0, Date.now() + 1000);
    expect(mirror.ranges.length).toBe(2);
    expect((await tc.api("GET", `/api/v1/cameras/${siteId}.secret/timeline`)).status).toBe(404);
    expect((await tc.api("GET", `/api/v1/cameras/${siteId}.cam1/timeline?from=yesterday`)).status).toBe(400);
  });

  test("digest repair: a mirror that drifted converges to the edge's index", async () => {
    const db = tc.site.mirror.db;
    const count = async () => Number((await db.query<{ n: string }>(`SELECT count(*)::int AS n FROM cp_segments WHERE site_id = $1 AND camera_id = 'cam1'`, [siteId]))[0]!.n);
    const before = await count();
    await db.run(`DELETE FROM cp_segments WHERE site_id = $1 AND camera_id = 'cam1' AND start_ms = (SELECT min(start_ms) FROM cp_segments WHERE site_id = $1 AND camera_id = 'cam1')`, [siteId]);
    await db.run(`INSERT INTO cp_segments VALUES ($1, 'cam1', 'main', 5, 6, 7)`, [siteId]);
    expect(await count()).toBe(before);
    await uplink.digestNow();
    await until("mirror repaired", async () => {
      const rows = await db.query<{ s: string }>(`SELECT start_ms AS s FROM cp_segments WHERE site_id = $1 AND camera_id = 'cam1' ORDER BY start_ms`, [siteId]);
      const edge = (await store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: Date.now() })).filter((s) => !s.open).map((s) => String(s.startMs));
      return JSON.stringify(rows.map((r) => String(r.s))) === JSON.stringify(edge);
    });
  });

  test("events arrive once, in order; events of an unshared camera are never sent", async () => {
    const n0 = tc.events.filter((e) => e.kind === "motion").length;
    for (let i = 0; i < 50; i++) await uplink.event({ eventId: `m-${i}`, cameraId: "cam1", kind: "motion", data: { i } });
    expect(await uplink.event({ cameraId: "secret", kind: "motion" })).toBe(false);
    await until("50 events", () => tc.events.filter((e) => e.kind === "motion").length - n0 === 50);
    const got = tc.events.filter((e) => e.kind === "motion").slice(n0);
    expect(got.map((e) => e.eventId)).toEqual(Array.from({ length: 50 }, (_, i) => `m-${i}`));
    expect(got[0]!.cameraId).toBe(`${siteId}.cam1`);
    const api = await tc.api<{ events: { id: string }[] }>("GET", `/api/v1/sites/${siteId}/events?limit=10000`);
    expect(api.body.events.filter((e) => e.id.startsWith("m-")).length).toBe(50);
  });

  test("desired config: applied, then a bad one is rejected with a reason and the last good one kept", async () => {
    const ok = await tc.api<{ desired: { version: number } }>("PUT", `/api/v1/sites/${siteId}/config`, { config: { retention: { maxAgeHours: 48 }, cameras: { cam1: { recording: ["on-event"] } } } });
    expect(ok.status).toBe(200);
    const v1 = ok.body.desired.version;
    await until("applied", async () => (await tc.api<{ inSync: boolean }>("GET", `/api/v1/sites/${siteId}/config`)).body.inSync);
    expect(uplink.appliedConfig?.version).toBe(v1);

    const bad = await tc.api("PUT", `/api/v1/sites/${siteId}/config`, { config: { retention: { maxAgeHours: 0.5 } } });
    expect(bad.status).toBe(200);
    const view = await until("rejected", async () => {
      const r = await tc.api<{ desired: { version: number }; applied: { version: number; state: string; reason: string }; inSync: boolean }>("GET", `/api/v1/sites/${siteId}/config`);
      return r.body.applied?.state === "rejected" ? r.body : undefined;
    });
    expect(view.applied.reason).toContain("below 1 h");
    expect(view.inSync).toBe(false);
    expect(uplink.appliedConfig?.version).toBe(v1);
    expect(uplink.appliedConfig?.config.retention?.maxAgeHours).toBe(48);
    await until("config-rejected event", () => tc.events.some((e) => e.kind === "outpost.config-rejected"));

    const unknownCam = await tc.api("PUT", `/api/v1/sites/${siteId}/config`, { config: { cameras: { ghost: { enabled: false } } } });
    expect(unknownCam.status).toBe(200);
    await until("unknown camera rejected", async () => {
      const r = await tc.api<{ applied: { state: string; reason: string } }>("GET", `/api/v1/sites/${siteId}/config`);
      return r.body.applied?.reason?.includes("no such camera") ? true : undefined;
    });
    const shape = await tc.api<{ detail: string }>("PUT", `/api/v1/sites/${siteId}/config`, { config: { retention: { maxAgeHours: "long" } } });
    expect(shape.status).toBe(400);
    expect(shape.body.detail).toContain("retention.maxAgeHours");
    expect(uplink.appliedConfig?.version).toBe(v1);
  });

  test("commands: result, failure, unknown, expiry, idempotent by id", async () => {
    const post = await tc.api<{ id: string; status: string }>("POST", `/api/v1/sites/${siteId}/commands`, { name: "ping", id: "cmd-ping-1" });
    expect(post.status).toBe(202);
    const done = await until("ping result", async () => {
      const r = await tc.api<{ status: string; result: { pong: number } }>("GET", `/api/v1/sites/${siteId}/commands/cmd-ping-1`);
      return r.body.status === "ok" ? r.body : undefined;
    });
    expect(done.result.pong).toBeGreaterThan(0);
    const again = await tc.api<{ status: string }>("POST", `/api/v1/sites/${siteId}/commands`, { name: "ping", id: "cmd-ping-1" });
    expect(again.body.status).toBe("ok");
    await tc.api("POST", `/api/v1/sites/${siteId}/commands`, { name: "boom", id: "cmd-boom" });
    await tc.api("POST", `/api/v1/sites/${siteId}/commands`, { name: "fly-to-moon", id: "cmd-moon" });
    await until("failed + unknown", async () => {
      const a = await tc.api<{ status: string; error: string }>("GET", `/api/v1/sites/${siteId}/commands/cmd-boom`);
      const b = await tc.api<{ status: string }>("GET", `/api/v1/sites/${siteId}/commands/cmd-moon`);
      return a.body.status === "failed" && a.body.error === "kaput" && b.body.status === "unknown-command";
    });
    // An expired command (delivered late) is answered "expired", never run.
    await tc.sites.control.sendCommand(siteId, "cmd-late", "ping", {}, Date.now() - 1000);
    await Bun.sleep(500);
    expect((await tc.api("POST", `/api/v1/sites/${siteId}/commands`, { name: "Bad Name" })).status).toBe(400);
    expect((await tc.api("POST", `/api/v1/sites/nope/commands`, { name: "ping" })).status).toBe(404);
  });

  test("health: GET /api/v1/sites/{id} has the latest report and 24 h history", async () => {
    const r = await until("health", async () => {
      const x = await tc.api<{ id: string; online: boolean; health: { latest: { streams: { cameraId: string }[]; software: { version: string } } | null; history: unknown[] } }>("GET", `/api/v1/sites/${siteId}`);
      return x.body.health?.latest && x.body.health.history.length >= 2 ? x.body : undefined;
    });
    expect(r.id).toBe(siteId);
    expect(r.online).toBe(true);
    expect(r.health.latest!.streams.map((s) => s.cameraId).sort()).toEqual(["cam1", "cam3"]);
    // A single node writes its sites' shared presence too (embedded database), for nodes that may join.
    const row = await until("presence written", async () => (await tc.central.database.query<{ online: boolean; node_id: string }>(`SELECT online, node_id FROM site_presence WHERE site_id = $1`, [siteId]))[0]);
    expect(row).toEqual({ online: true, node_id: tc.site.cluster.nodeId });
  });

  test("GET /api/v1/site-health answers from memory: with the database held busy it answers; what reads the mirror answers once it is free", async () => {
    type Fleet = { sites: { id: string; online: boolean; latest: { at: string; streams: { cameraId: string }[] } }[] };
    await until("a report in the fleet answer", async () => (await tc.api<Fleet>("GET", "/api/v1/site-health")).body.sites.some((x) => x.id === siteId) || undefined);
    // Hold the database (embedded PGlite has one connection, as a long control-plane batch would hold it).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const busy = tc.sites.mirrorDb.transaction(() => held);
    let detailsAnswered = false;
    const details = tc.api<{ health: { latest: unknown; history: unknown[] }; config: { desired: unknown }; cameras: string[] }>("GET", `/api/v1/sites/${siteId}`).then((r) => ((detailsAnswered = true), r));
    try {
      const r = await tc.api<Fleet>("GET", "/api/v1/site-health");
      expect(r.status).toBe(200);
      const mine = r.body.sites.find((x) => x.id === siteId)!;
      expect(mine.online).toBe(true);
      expect(mine.latest.streams.map((x) => x.cameraId).sort()).toEqual(["cam1", "cam3"]);
      expect(Number.isNaN(Date.parse(mine.latest.at))).toBe(false);
      // The database really was held: a query behind it is still waiting.
      if (tc.sites.mirrorDb.driver === "embedded") expect(detailsAnswered).toBe(false);
    } finally {
      release();
      await busy;
    }
    const one = await details;
    expect(one.status).toBe(200);
    expect(one.body.health.latest).toBeTruthy();
    expect(one.body.health.history.length).toBeGreaterThan(0);
    expect(one.body.cameras).toContain(`${siteId}.cam1`);
  });

  test("a stream that stops recording: its state and the edge's reason reach central's camera list (live tiles show it)", async () => {
    const st = cams[0]!.streams[0]!;
    st.state = "backoff";
    st.detail = "stream not found on the camera (404)";
    try {
      const cam = await until("the edge's reason at central", async () => {
        const r = await tc.api<{ cameras: { id: string; streams: { kind: string; status: string; reason?: string }[] }[] }>("GET", "/api/v1/cameras");
        const c = r.body.cameras.find((x) => x.id === `${siteId}.cam1`);
        return c?.streams[0]?.reason ? c : undefined;
      });
      expect(cam.streams[0]).toMatchObject({ kind: "main", status: "backoff", reason: "stream not found on the camera (404)" });
    } finally {
      st.state = "recording";
      delete st.detail;
    }
  });

  test("health reports the edge's clock offset to central, estimated over the ack round trip", async () => {
    // Same host clock on both sides here: the estimate must be near zero and trusted.
    const clk = await until("clock estimate in a health report", async () => {
      await uplink.event({ eventId: `clock-${Date.now()}`, kind: "door" });
      const x = await tc.api<{ health: { latest: { clock: { offsetMs: number | null; trusted: boolean } } | null } }>("GET", `/api/v1/sites/${siteId}`);
      const c = x.body.health?.latest?.clock;
      return c && c.offsetMs !== null ? c : undefined;
    }, 20_000);
    expect(Math.abs(clk.offsetMs!)).toBeLessThan(500);
    expect(clk.trusted).toBe(true);
  });

  test("unknown protocol version is rejected with a logged reason, nothing crashes", async () => {
    const before = tc.sites.control.stats.rejected;
    await new Promise<void>((r) =>
      tc.central.broker.publish({ cmd: "publish", topic: topics.up(siteId), payload: Buffer.from(JSON.stringify({ v: 99, ob: "feedfacecafe", seq: 1, type: "event", body: {} })), qos: 1, retain: false, dup: false } as never, () => r()),
    );
    await until("rejected", () => tc.sites.control.stats.rejected > before);
    await uplink.event({ eventId: "after-v99", kind: "door" });
    await until("still working", () => tc.events.some((e) => e.eventId === "after-v99"));
  });

  test("telemetry: GPS points and forwarded log lines (above the level) reach central", async () => {
    for (let i = 0; i < 5; i++) expect(await uplink.telemetry({ kind: "gps", data: { lat: 59.9 + i / 1000, lon: 10.7, speedKmh: 40 + i } })).toBe(true);
    expect(await uplink.telemetry({ kind: "gps", cameraId: "secret", data: { lat: 0 } })).toBe(false);
    const fwd = uplink.logForwarder("warn");
    fwd.write({ level: "info", msg: "not forwarded" });
    fwd.write({ level: "error", msg: "pipeline died", camera: "cam1" });
    fwd.write({ level: "error", msg: "private", camera: "secret" });
    const gps = await until("gps at central", async () => {
      const r = await tc.api<{ telemetry: { data: { speedKmh: number } }[] }>("GET", `/api/v1/sites/${siteId}/telemetry?kind=gps&from=${new Date(Date.now() - 60_000).toISOString()}`);
      return r.body.telemetry.length === 5 ? r.body.telemetry : undefined;
    });
    expect(gps.map((g) => g.data.speedKmh)).toEqual([40, 41, 42, 43, 44]);
    const logs = await until("log at central", async () => {
      const r = await tc.api<{ telemetry: { camera: string; data: { msg: string } }[] }>("GET", `/api/v1/sites/${siteId}/telemetry?kind=log`);
      return r.body.telemetry.length ? r.body.telemetry : undefined;
    });
    expect(logs.map((l) => l.data.msg)).toEqual(["pipeline died"]);
    expect(logs[0]!.camera).toBe(`${siteId}.cam1`);
    expect((await tc.api("GET", `/api/v1/sites/${siteId}/telemetry`)).status).toBe(400);
  });

  test("a camera not shared never appears at central in any message", async () => {
    await uplink.syncNow();
    await uplink.digestNow();
    await Bun.sleep(600);
    expect(captured.length).toBeGreaterThan(50);
    expect(captured.filter((m) => m.includes("secret"))).toEqual([]);
    expect(captured.some((m) => m.includes("cam1"))).toBe(true);
    const all = await tc.api<{ cameras: { id: string }[] }>("GET", "/api/v1/cameras");
    expect(all.body.cameras.some((c) => c.id.includes("secret"))).toBe(false);
  });
});

test("index sync follows the store's commits, not a poll: with the poll timer off, a segment and a gap reach central", async () => {
  // A second edge whose safety-net timer never fires within the test: only MediaStore.observeIndex can start the sync.
  const dir = path.join(root, "edge-nopoll");
  const id2 = await enrollEdge(tc.central, "bus nopoll", dir);
  const store2 = await MediaStore.open({ root: path.join(dir, "store"), segmentDurationMs: 1000, minFreeBytes: 0, log: quiet() });
  const up2 = await startUplink({
    dataDir: dir,
    identity: id2,
    store: store2,
    cameras: () => [cams[0]!],
    share: ["cam1"],
    log: quiet("edge"),
    intervals: { syncMs: 3_600_000, digestMs: 3_600_000, treeMs: 200, healthMs: 500, ackTimeoutMs: 2000 },
  });
  try {
    await until("second uplink connected", () => up2.status().connected);
    const base = Date.now() - 30_000;
    await record(store2, media, "cam1", 0, 6, base);
    await store2.writer("cam1", "main").end("camera-offline", "test");
    await record(store2, media, "cam1", 6, 6, base + 8_000);
    await store2.writer("cam1", "main").settled();
    const tl = await until("timeline of the no-poll edge at central", async () => {
      const r = await tc.api<{ ranges: unknown[]; gaps: { reason: string }[] }>("GET", `/api/v1/cameras/${id2.siteId}.cam1/timeline?from=${new Date(base - 1000).toISOString()}&to=${new Date().toISOString()}`);
      return r.status === 200 && r.body.ranges.length >= 2 && r.body.gaps.some((g) => g.reason === "camera-offline") ? r.body : undefined;
    }, 15_000);
    expect(tl.ranges.length).toBeGreaterThanOrEqual(2);
  } finally {
    await up2.stop();
    await store2.close();
  }
});
