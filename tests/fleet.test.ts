/**
 * Fleet end to end: two buses (real edges, camsim cameras) each with a real gpsd fed by gpsfake
 * with NMEA this test generates, enrolled with a real central over MQTT/mTLS (bus 1 through a
 * cuttable proxy). Bus 1 drives through "Main & 5th" with a tunnel, a gpsd restart and a link
 * outage on the way; bus 2 drives elsewhere. Track in the edge index and segment boxes; track
 * chunks at central; place-and-time search finds exactly bus 1; live positions; vehicle inputs
 * as events with their time; ignition off → recording stops after the configured time with no
 * torn segment, ignition on → recording again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { freePort, routeEpochs, startFakeGps, toNmea, type FakeGps, type RouteStep } from "../camsim/gps.ts";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { CutProxy } from "../central/live/testkit.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { enroll } from "../edge/identity/index.ts";
import { checkStore } from "../lib/store/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { removeTempDirs, tempDir, until as untilAt } from "./helpers.ts";

// Generous waits: the shared machine can be many times slower than an idle one (behaviour is asserted, never speed).
const until = <T>(what: string, cond: () => T | Promise<T>, ms = 60_000) => untilAt(what, cond, ms);

const EDGE_PW = "fleet-edge-pw";
const TOWN = { lat: 47.37, lon: 8.54 };
const MAIN_AND_5TH = { lat: 47.372, lon: 8.542 };
let root: string;
let sim: Camsim;
let site: CentralSite;
let proxy: CutProxy;
let token: string;
let bus1Port: number;
let bus2Port: number;
const sink = new MemorySink();
const buses: { edge: Edge; siteId: string; gps?: FakeGps; token: string }[] = [];

const api = async (path: string, init: RequestInit = {}) => {
  const r = await fetch(site.central.apiUrl + path, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<any>;
};
const edgeApi = async (bus: (typeof buses)[number], path: string, init: RequestInit = {}) => {
  const r = await fetch(bus.edge.url + path, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${bus.token}`, ...(init.headers ?? {}) } });
  return { status: r.status, body: (await r.json()) as any };
};
const drive = (name: string, start: { lat: number; lon: number }, steps: RouteStep[], port?: number) =>
  startFakeGps({ nmea: toNmea(routeEpochs(start, steps), Date.now()), file: join(root, `${name}-${Date.now()}.nmea`), cycleS: 0.05, ...(port ? { port } : {}) });

beforeAll(async () => {
  root = await tempDir("fleet-e2e");
  const log = new Logger({ component: "test", sink, level: "info" });
  sim = await startCamsim({ cameras: 2, discoveryPort: null, maxPullWaitMs: 1000, main: { width: 320, height: 180, bitrateKbps: 200 }, sub: { width: 160, height: 90, bitrateKbps: 100 }, log });
  site = await startCentralSite({ dataDir: join(root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } } } as never, { log });
  token = ((await (await fetch(site.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: site.central.initialAdminPassword }) })).json()) as { token: string }).token;
  proxy = new CutProxy({ host: "127.0.0.1", port: Number(new URL(site.central.mqttUrl).port) });
  await proxy.start();
  bus1Port = await freePort();
  bus2Port = await freePort();
  for (const [i, name] of ["Bus 101", "Bus 102"].entries()) {
    const dir = join(root, `bus${i}`);
    const t = await site.central.createEnrollmentToken(name);
    const id = await enroll({ centralUrl: site.central.enrollUrl, token: t.token, dataDir: dir, log });
    const cam = sim.cameras[i]!;
    const edge = await startEdge(
      {
        dataDir: dir,
        name,
        storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
        api: { enabled: true, host: "127.0.0.1", port: 0, plainHttp: true },
        admin: { user: "admin", passwordHash: await Bun.password.hash(EDGE_PW, "argon2id") },
        ingest: { staggerMs: 100, backoffInitialMs: 300, backoffMaxMs: 1000, stallTimeoutMs: 3000 },
        federation: { share: ["*"], ...(i === 0 ? { mqttUrl: `mqtts://127.0.0.1:${proxy.port}` } : {}) },
        position: { gpsd: { host: "127.0.0.1", port: i === 0 ? bus1Port : bus2Port }, backoffInitialMs: 100, backoffMaxMs: 400, staleMs: 1500, thin: { maxIntervalMs: 3000 }, reportEveryMs: 1000 },
        vehicle: { recordAfterOffMs: 3000 },
        cameras: [{ id: "door", onvif: { address: `127.0.0.1:${cam.onvifPort}` }, user: sim.user, password: sim.password, streams: ["main"] }],
      } as never,
      { log },
    );
    const edgeToken = ((await (await fetch(edge.url + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: EDGE_PW }) })).json()) as { token: string }).token;
    buses.push({ edge, siteId: id.siteId, token: edgeToken });
  }
  await until("both buses recording and connected", async () => buses.every((b) => b.edge.uplink?.status().connected && b.edge.status().cameras.every((c) => c.streams.some((s) => s.state === "recording"))), 40_000);
}, 90_000);

afterAll(async () => {
  // what went wrong, when something did
  for (const r of sink.records.filter((x) => x.level === "error" && !/camsim|rtsp/.test(String(x.component)))) console.error("edge/central error:", r.component, r.msg, String((r as { err?: unknown }).err ?? ""));
  for (const b of buses) {
    await b.edge.stop().catch(() => undefined);
    await b.gps?.stop().catch(() => undefined);
  }
  await proxy?.close().catch(() => undefined);
  await site?.close().catch(() => undefined);
  await sim?.close().catch(() => undefined);
  await removeTempDirs();
});

test("a drive with a tunnel, a gpsd restart and a link outage: track on the edge with segment boxes, at central; search finds exactly the bus that passed", async () => {
  const [bus1, bus2] = buses as [(typeof buses)[0], (typeof buses)[0]];
  // Bus 1 starts with no gpsd at its configured port: "no source" is recorded, never a position.
  await until("no source recorded on bus 1", async () => bus1.edge.position.current?.mode === 0);
  expect(bus1.edge.position.current?.lat).toBeUndefined();
  const t0 = Date.now();
  // A geofence at Main & 5th with a rule: entering it raises an alarm.
  await api("/api/v1/geofences/main-5th", { method: "PUT", body: JSON.stringify({ name: "Main & 5th", area: { circle: { ...MAIN_AND_5TH, radiusM: 40 } } }) });
  await api("/api/v1/rules/geofence-alarm", { method: "PUT", body: JSON.stringify({ name: "Bus at Main & 5th", match: { types: ["geofence.enter"] }, actions: [{ kind: "alarm", priority: 2 }] }) });

  // Bus 2 drives along another street meanwhile.
  bus2.gps = await drive("bus2", { lat: 47.36, lon: 8.53 }, [{ stopS: 3 }, { to: { lat: 47.36, lon: 8.535 }, speedMps: 12 }, { stopS: 400 }], bus2Port);
  // Leg 1: north to the corner of Main Street, then a tunnel (no fix).
  let gps = await drive("bus1-leg1", TOWN, [{ stopS: 3 }, { to: { lat: 47.372, lon: 8.54 }, speedMps: 15 }, { noFixS: 8 }], bus1Port);
  await until("bus 1 positions", async () => (bus1.edge.position.current?.lat ?? 0) >= 47.3719, 60_000);
  await until("tunnel: no fix", async () => bus1.edge.position.current?.mode === 1, 60_000);
  // gpsd restarts (the receiver's daemon dies) while the link to central is cut.
  await gps.stop();
  proxy.cut();
  await until("no source while gpsd is down", async () => bus1.edge.position.current?.mode === 0);
  // Leg 2: along Main Street through 5th, then parks.
  gps = await drive("bus1-leg2", { lat: 47.372, lon: 8.54 }, [{ stopS: 2 }, { to: { lat: 47.372, lon: 8.546 }, speedMps: 15 }, { stopS: 400 }], bus1Port);
  bus1.gps = gps;
  await until("bus 1 past 5th", async () => (bus1.edge.position.current?.lon ?? 0) >= 8.5459, 60_000);
  const t1 = Date.now();

  // The edge's track: positions only on the route, no-fix and no-source points without coordinates.
  const tr = await edgeApi(bus1, `/api/v1/position?from=${new Date(t0 - 60_000).toISOString()}&to=${new Date(Date.now() + 1000).toISOString()}`);
  expect(tr.status).toBe(200);
  const pts = tr.body.points as { fix: string; lat?: number; lon?: number; time: string }[];
  expect(pts.some((p) => p.fix === "no-fix" && p.lat === undefined)).toBe(true);
  expect(pts.some((p) => p.fix === "no-source" && p.lat === undefined)).toBe(true);
  for (const p of pts.filter((x) => x.lat !== undefined)) {
    expect(p.lat!).toBeGreaterThanOrEqual(47.37 - 1e-6);
    expect(p.lat!).toBeLessThanOrEqual(47.372 + 1e-6);
    expect(p.lon!).toBeLessThanOrEqual(8.546 + 1e-6);
  }
  // Thinned: far fewer kept points than fixes received (~10 per second of drive).
  expect(pts.length).toBeLessThan(60);
  // Segments recorded while driving carry the box of the track during them.
  await until("a segment recorded after leg 2 has its box", async () => {
    await bus1.edge.position.track.idle();
    return (await bus1.edge.position.track.segmentBoxes(t0, Date.now())).some((b) => b.fixes > 0 && b.maxLon >= 8.543);
  });
  const boxes = await bus1.edge.position.track.segmentBoxes(t0, Date.now());
  const withFix = boxes.filter((b) => b.fixes > 0);
  expect(withFix.length).toBeGreaterThan(0);
  for (const b of withFix) {
    expect(b.minLat).toBeGreaterThanOrEqual(47.37 - 1e-6);
    expect(b.maxLon).toBeLessThanOrEqual(8.546 + 1e-6);
  }
  // The boxes cover the route on both sides of 5th (which segment spans it depends on where segments cut).
  expect(boxes.some((b) => b.minLon < 8.542) && boxes.some((b) => b.maxLon > 8.542)).toBe(true);

  // The link returns: the track reaches central (index-first, chunked).
  proxy.restore();
  await until("bus 1 connected again", async () => bus1.edge.uplink?.status().connected);
  await bus1.edge.uplink!.syncNow();
  await bus2.edge.uplink!.syncNow();
  const window = `from=${new Date(t0 - 60_000).toISOString()}&to=${new Date(Date.now() + 1000).toISOString()}`;
  const central1 = await until("bus 1 track at central", async () => {
    const r = await api(`/api/v1/sites/${bus1.siteId}/track?${window}`);
    return r.points.some((p: { lon?: number }) => (p.lon ?? 0) >= 8.5459) && r;
  });
  expect(central1.points.length).toBeGreaterThanOrEqual(pts.filter((p) => Date.parse(p.time) >= t0 - 60_000).length - 1);
  await until("bus 2 track at central", async () => (await api(`/api/v1/sites/${bus2.siteId}/track?${window}`)).points.some((p: { lon?: number }) => (p.lon ?? 0) > 8.5345));

  // Place and time: a 40 m circle at Main & 5th finds bus 1 only, with its camera and where the footage is.
  const found = await api("/api/v1/fleet/search", { method: "POST", body: JSON.stringify({ area: { circle: { ...MAIN_AND_5TH, radiusM: 40 } }, from: new Date(t0 - 60_000).toISOString(), to: new Date(Date.now() + 1000).toISOString() }) });
  expect(found.vehicles).toEqual([bus1.siteId]);
  expect(found.results.length).toBe(1);
  const hit = found.results[0];
  expect(hit).toMatchObject({ siteId: bus1.siteId, siteName: "Bus 101", cameraId: `${bus1.siteId}.door` });
  // the passage is inside the drive of leg 2
  expect(Date.parse(hit.from)).toBeGreaterThanOrEqual(t0);
  expect(Date.parse(hit.to)).toBeLessThanOrEqual(t1 + 1000);
  expect(hit.footage.length).toBeGreaterThan(0);
  expect(hit.footage.every((f: { at: string }) => ["edge", "central", "gone"].includes(f.at))).toBe(true);
  // A polygon around bus 2's street finds bus 2 only; an area nobody passed finds nothing; the window matters.
  const poly = [{ lat: 47.3595, lon: 8.532 }, { lat: 47.3605, lon: 8.532 }, { lat: 47.3605, lon: 8.534 }, { lat: 47.3595, lon: 8.534 }];
  expect((await api("/api/v1/fleet/search", { method: "POST", body: JSON.stringify({ area: { polygon: poly }, from: new Date(t0 - 60_000).toISOString(), to: new Date(Date.now() + 1000).toISOString() }) })).vehicles).toEqual([bus2.siteId]);
  expect((await api("/api/v1/fleet/search", { method: "POST", body: JSON.stringify({ area: { circle: { lat: 47.38, lon: 8.55, radiusM: 100 } }, from: new Date(t0 - 60_000).toISOString(), to: new Date().toISOString() }) })).vehicles).toEqual([]);
  expect((await api("/api/v1/fleet/search", { method: "POST", body: JSON.stringify({ area: { circle: { ...MAIN_AND_5TH, radiusM: 40 } }, from: new Date(t0 - 3_600_000).toISOString(), to: new Date(t0 - 120_000).toISOString() }) })).vehicles).toEqual([]);
  // Bad input: a problem with a reason.
  const bad = await fetch(site.central.apiUrl + "/api/v1/fleet/search", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ area: { circle: { lat: 95, lon: 8, radiusM: 10 } }, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" }) });
  expect(bad.status).toBe(400);
  expect(bad.headers.get("content-type")).toContain("application/problem+json");

  // Geofence: bus 1 entered (and left) Main & 5th, at the time of its track; bus 2 never did; the rule raised an alarm.
  const enter = await until("geofence entry at central", async () => (await api("/api/v1/events?limit=100&type=geofence.enter")).events.find((e: { siteId: string }) => e.siteId === bus1.siteId));
  expect(enter.data).toMatchObject({ geofence: "main-5th", name: "Main & 5th" });
  expect(Date.parse(enter.time)).toBeGreaterThanOrEqual(t0);
  expect((await api("/api/v1/events?limit=100&type=geofence.leave")).events.some((e: { siteId: string }) => e.siteId === bus1.siteId)).toBe(true);
  expect((await api("/api/v1/events?limit=100&type=geofence.enter")).events.some((e: { siteId: string }) => e.siteId === bus2.siteId)).toBe(false);
  await until("geofence alarm", async () => (await api("/api/v1/alarms")).alarms.find((a: { eventType: string; siteId: string }) => a.eventType === "geofence.enter" && a.siteId === bus1.siteId));

  // Live positions: both buses, bus 1 at the end of Main Street.
  const live = await until("live positions", async () => {
    const r = await api("/api/v1/fleet/positions");
    const v1 = r.vehicles.find((v: { siteId: string }) => v.siteId === bus1.siteId);
    return (v1?.position?.lon ?? 0) >= 8.5459 && r;
  });
  expect(live.vehicles.map((v: { siteId: string }) => v.siteId).sort()).toEqual([bus1.siteId, bus2.siteId].sort());
  expect(live.vehicles.find((v: { siteId: string }) => v.siteId === bus1.siteId)).toMatchObject({ name: "Bus 101", online: true });

  // Link cost of the track against the camera's bytes.
  const trackBytes = bus1.edge.uplink!.trackStats().bytes;
  const videoBytes = (await bus1.edge.store.usage()).totalBytes;
  console.log(`fleet: track sync ${trackBytes} B in ${bus1.edge.uplink!.trackStats().chunks} chunks vs ${videoBytes} B of video (${((100 * trackBytes) / videoBytes).toFixed(3)} %)`);
  expect(trackBytes).toBeGreaterThan(0);
}, 400_000);

test("vehicle inputs are events with their own time; ignition off → recording stops after recordAfterOffMs with no torn segment; ignition on → recording again", async () => {
  const bus2 = buses[1]!;
  const at = new Date(Date.now() - 2000).toISOString();
  const door = await edgeApi(bus2, "/api/v1/inputs", { method: "POST", body: JSON.stringify({ input: "door-front", state: true, at }) });
  expect(door.status).toBe(202);
  const bad = await edgeApi(bus2, "/api/v1/inputs", { method: "POST", body: JSON.stringify({ input: "Door Front!", state: "yes" }) });
  expect(bad.status).toBe(400);
  const ev = await until("door event at central", async () => (await api(`/api/v1/events?limit=100&type=input`)).events.find((e: { siteId: string; data: { input?: string } }) => e.siteId === bus2.siteId && e.data.input === "door-front"));
  expect(ev.time).toBe(at);

  const off = Date.now();
  expect((await edgeApi(bus2, "/api/v1/inputs", { method: "POST", body: JSON.stringify({ input: "ignition", state: false }) })).body.vehicle).toBe("stopping");
  await Bun.sleep(1500);
  expect(bus2.edge.vehicle.state).toBe("stopping"); // still within recordAfterOffMs: the ingest runs on
  expect(bus2.edge.status().cameras[0]!.streams.length).toBe(1);
  await until("parked", async () => bus2.edge.vehicle.state === "parked", 60_000).catch((e) => {
    for (const r of sink.records.filter((x) => Date.parse(x.t) > off - 1000 && !/camsim|central/.test(String(x.component)))) console.log("DIAG", r.level, r.component, r.msg, JSON.stringify(r).slice(0, 300));
    throw e;
  });
  const parkedAt = Date.now();
  expect(parkedAt - off).toBeGreaterThanOrEqual(3000);
  expect((await edgeApi(bus2, "/api/v1/vehicle", {})).body.state).toBe("parked");
  expect(bus2.edge.status().cameras[0]!.streams.length).toBe(0);
  // The last segment ends after the off delay and no later than parking; the store is whole.
  const segs = await bus2.edge.store.segments({ cameraId: "door", stream: "main", fromMs: off - 60_000, toMs: Date.now() });
  const last = segs.at(-1)!;
  expect(last.open).toBeFalsy();
  expect(last.endMs).toBeGreaterThanOrEqual(off + 2000);
  expect(last.endMs).toBeLessThanOrEqual(parkedAt + 500);
  await Bun.sleep(1500);
  expect((await bus2.edge.store.segments({ cameraId: "door", stream: "main", fromMs: last.endMs + 1, toMs: Date.now() })).length).toBe(0); // nothing recorded while parked
  await until("parked event at central", async () => (await api(`/api/v1/events?limit=100&type=vehicle.parked`)).events.some((e: { siteId: string }) => e.siteId === bus2.siteId));
  const live = await until("central shows bus 2 parked", async () => (await api("/api/v1/fleet/positions")).vehicles.find((v: { siteId: string; state: string }) => v.siteId === bus2.siteId && v.state === "parked"));
  expect(live.vehicle).toBe("parked");

  const on = Date.now();
  await edgeApi(bus2, "/api/v1/inputs", { method: "POST", body: JSON.stringify({ input: "ignition", state: true }) });
  await until("recording again", async () => bus2.edge.status().cameras[0]!.streams.some((s) => s.state === "recording"), 60_000);
  console.log(`fleet: cameras back ${Date.now() - on} ms after ignition on`);
  await until("a segment after ignition on", async () => (await bus2.edge.store.segments({ cameraId: "door", stream: "main", fromMs: on, toMs: Date.now() })).some((s) => !s.open), 60_000);
  const tl = await bus2.edge.store.timeline({ cameraId: "door", stream: "main", fromMs: off, toMs: Date.now() });
  expect(tl.gaps.some((g) => g.reason === "stopped")).toBe(true);
}, 240_000);

test("the store of the parked bus checks clean after stop (no torn segment)", async () => {
  const bus2 = buses[1]!;
  await bus2.edge.stop();
  const report = await checkStore(bus2.edge.config.dataDir, { rebuild: false });
  expect(report.problems).toEqual([]);
}, 120_000);
