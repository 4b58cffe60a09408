/**
 * Fleet, second part, end to end over loopback: one bus (real edge, camsim camera, real gpsd fed
 * by gpsfake, a real mosquitto as the vehicle computer's broker) enrolled with a real central.
 * - Geofence → retrieval: a rule "when the bus enters zone X, retrieve the front camera ±4 s"
 *   (camera named by its name on the site) pulls that window to central; central's evidence
 *   package of it carries the track as WebVMT and GPX sidecars, hashed in the manifest. The
 *   edge's own package carries them too.
 * - Vehicle inputs from MQTT and from the camera's ONVIF digital input reach central as events
 *   with their original time and source.
 * - Depot offload: on depot WiFi while driving nothing is pulled; ignition off (over MQTT) →
 *   parked → central pulls everything it lacks at bulk class, then says when the bus last
 *   offloaded (site transfer view and fleet positions).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import mqtt from "mqtt";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { freePort, routeEpochs, startFakeGps, toNmea, type FakeGps } from "../camsim/gps.ts";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { enroll } from "../edge/identity/index.ts";
import { sha256Hex, type Manifest } from "../federation/custody/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { readZip } from "../lib/zip/index.ts";
import { removeTempDirs, tempDir, until as untilAt } from "./helpers.ts";

const until = <T>(what: string, cond: () => T | Promise<T>, ms = 60_000) => untilAt(what, cond, ms, 200);

const EDGE_PW = "depot-edge-pw";
const START = { lat: 47.4, lon: 8.5 };
const ZONE_X = { lat: 47.4, lon: 8.503 };
let root: string;
let sim: Camsim;
let site: CentralSite;
let edge: Edge;
let siteId: string;
let token: string;
let edgeToken: string;
let gps: FakeGps | undefined;
let broker: ReturnType<typeof Bun.spawn> | undefined;
let brokerUrl: string;
const sink = new MemorySink();

const api = async (path: string, init: RequestInit = {}) => {
  const r = await fetch(site.central.apiUrl + path, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<any>;
};
const edgeApi = async (path: string, init: RequestInit = {}) => fetch(edge.url + path, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${edgeToken}`, ...(init.headers ?? {}) } });
const text = (files: Map<string, Uint8Array>, name: string) => new TextDecoder().decode(files.get(name)!);
/** WebVMT cues' positions (moveto/lineto) as written by federation/custody/track-sidecar.ts. */
const vmtPositions = (vmt: string) =>
  vmt
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, { lat: number; lng: number }>)
    .flatMap((c) => (c.moveto ?? c.lineto ? [c.moveto ?? c.lineto!] : []));
const gpxPoints = (gpx: string) => [...gpx.matchAll(/<trkpt lat="([-\d.]+)" lon="([-\d.]+)"><time>([^<]+)<\/time>/g)].map((m) => ({ lat: Number(m[1]), lon: Number(m[2]), time: m[3]! }));

beforeAll(async () => {
  root = await tempDir("fleet-depot");
  const log = new Logger({ component: "test", sink, level: "info" });
  // The vehicle computer's broker.
  const mport = await freePort();
  await writeFile(join(root, "mosquitto.conf"), `listener ${mport} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  broker = Bun.spawn(["/usr/sbin/mosquitto", "-c", join(root, "mosquitto.conf")], { stdout: "ignore", stderr: "ignore" });
  brokerUrl = `mqtt://127.0.0.1:${mport}`;
  sim = await startCamsim({ cameras: 1, discoveryPort: null, maxPullWaitMs: 1000, main: { width: 320, height: 180, bitrateKbps: 200 }, sub: { width: 160, height: 90, bitrateKbps: 100 }, log });
  site = await startCentralSite({ dataDir: join(root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } } } as never, { log });
  token = ((await (await fetch(site.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: site.central.initialAdminPassword }) })).json()) as { token: string }).token;
  const dir = join(root, "bus");
  const t = await site.central.createEnrollmentToken("Bus 7");
  siteId = (await enroll({ centralUrl: site.central.enrollUrl, token: t.token, dataDir: dir, log })).siteId;
  const gpsPort = await freePort();
  // The route: stand still, drive east through zone X, stand (gpsfake repeats nothing: loop off).
  gps = await startFakeGps({ nmea: toNmea(routeEpochs(START, [{ stopS: 2 }, { to: { lat: 47.4, lon: 8.506 }, speedMps: 15 }, { stopS: 600 }]), Date.now()), file: join(root, "route.nmea"), cycleS: 0.2, port: gpsPort });
  const cam = sim.cameras[0]!;
  edge = await startEdge(
    {
      dataDir: dir,
      name: "Bus 7",
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      api: { enabled: true, host: "127.0.0.1", port: 0, plainHttp: true },
      admin: { user: "admin", passwordHash: await Bun.password.hash(EDGE_PW, "argon2id") },
      ingest: { staggerMs: 100, backoffInitialMs: 300, backoffMaxMs: 1000, stallTimeoutMs: 3000 },
      federation: { share: ["*"], link: "cellular" },
      position: { gpsd: { host: "127.0.0.1", port: gpsPort }, backoffInitialMs: 100, backoffMaxMs: 400, staleMs: 10_000, thin: { maxIntervalMs: 2000 }, reportEveryMs: 1000 },
      vehicle: { recordAfterOffMs: 1500, mqtt: { url: brokerUrl, topicPrefix: "bus7/inputs/", reconnectMs: 300 }, onvifInputs: [{ camera: "front", token: "DigitalInput_1", input: "door-rear" }] },
      cameras: [{ id: "front", name: "Front camera", onvif: { address: `127.0.0.1:${cam.onvifPort}` }, user: sim.user, password: sim.password, streams: ["main"] }],
    } as never,
    { log },
  );
  edgeToken = ((await (await fetch(edge.url + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: EDGE_PW }) })).json()) as { token: string }).token;
  await until("recording and connected", async () => edge.uplink?.status().connected && edge.status().cameras.every((c) => c.streams.some((s) => s.state === "recording")), 60_000);
}, 120_000);

afterAll(async () => {
  for (const r of sink.records.filter((x) => x.level === "error" && !/camsim|rtsp/.test(String(x.component)))) console.error("edge/central error:", r.component, r.msg, String((r as { err?: unknown }).err ?? ""));
  await edge?.stop().catch(() => undefined);
  await gps?.stop().catch(() => undefined);
  await site?.close().catch(() => undefined);
  await sim?.close().catch(() => undefined);
  broker?.kill("SIGTERM");
  await broker?.exited;
  await removeTempDirs();
});

test("bus enters zone X → the rule retrieves the front camera's window to central; central's and the edge's evidence packages carry the track as WebVMT and GPX", async () => {
  const cameraId = `${siteId}.front`;
  await api("/api/v1/geofences/zone-x", { method: "PUT", body: JSON.stringify({ name: "Zone X", area: { circle: { ...ZONE_X, radiusM: 40 } } }) });
  await api("/api/v1/rules/zone-x-front", { method: "PUT", body: JSON.stringify({ name: "Bus in zone X: front camera", match: { types: ["geofence.enter"] }, actions: [{ kind: "retrieve", camera: "Front camera", preSeconds: 4, postSeconds: 4, priority: "request" }] }) });
  await until("the bus past zone X", async () => (edge.position.current?.lon ?? 0) >= 8.5055, 90_000);
  await Bun.sleep(5000); // footage after the entry (the window's +4 s) is recorded
  await edge.uplink!.syncNow();
  const enter = await until("geofence entry at central", async () => (await api("/api/v1/events?limit=50&type=geofence.enter")).events.find((e: { siteId: string }) => e.siteId === siteId), 120_000);
  const atMs = Date.parse(enter.time);
  // The same passage through the search index (pieces of the stored chunks): found, and not elsewhere.
  const search = (lat: number, lon: number) => api("/api/v1/fleet/search", { method: "POST", body: JSON.stringify({ area: { circle: { lat, lon, radiusM: 40 } }, from: new Date(atMs - 600_000).toISOString(), to: new Date(Date.now() + 1000).toISOString() }) });
  const hit = await search(ZONE_X.lat, ZONE_X.lon);
  expect(hit.vehicles).toEqual([siteId]);
  expect(Date.parse(hit.results[0].from)).toBeLessThanOrEqual(atMs);
  expect((await search(ZONE_X.lat + 0.01, ZONE_X.lon)).vehicles).toEqual([]);
  const r = await until("the rule's retrieval done", async () => (await api("/api/v1/retrievals")).retrievals.find((x: { reason: { ruleId?: string }; state: string }) => x.reason?.ruleId === "zone-x-front" && x.state === "done"), 90_000);
  expect(r).toMatchObject({ camera: cameraId, priority: "request", from: new Date(atMs - 4000).toISOString(), to: new Date(atMs + 4000).toISOString() });
  // Central holds the window now.
  const held = await api(`/api/v1/cameras/${cameraId}/segments?from=${new Date(atMs - 4000).toISOString()}&to=${new Date(atMs + 4000).toISOString()}`);
  expect(held.segments.length).toBeGreaterThan(0);

  // Central's evidence package of that window: the track as sidecars, hashed in the manifest.
  const pkg = await fetch(site.central.apiUrl + "/api/v1/exports", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ cameraId, from: r.from, to: r.to }) });
  expect(pkg.status).toBe(200);
  const { files } = readZip(new Uint8Array(await pkg.arrayBuffer()));
  const m = JSON.parse(text(files, "manifest.json")) as Manifest;
  expect(m.position.sidecars!.map((s) => s.format)).toEqual(["webvmt", "gpx"]);
  for (const s of m.position.sidecars!) expect(sha256Hex(files.get(s.file)!)).toBe(s.sha256);
  const vmt = text(files, "position.vmt");
  expect(vmt.startsWith("WEBVMT\n")).toBe(true);
  expect(vmt).toContain(`start:${new Date(atMs - 4000).toISOString()}`);
  const pos = vmtPositions(vmt);
  expect(pos.length).toBeGreaterThanOrEqual(2);
  // The window's track runs through zone X along the route (lat 47.4).
  for (const p of pos) expect(Math.abs(p.lat - 47.4)).toBeLessThan(1e-4);
  expect(Math.min(...pos.map((p) => p.lng))).toBeLessThanOrEqual(ZONE_X.lon + 0.0005);
  expect(Math.max(...pos.map((p) => p.lng))).toBeGreaterThanOrEqual(ZONE_X.lon - 0.0005);
  expect(gpxPoints(text(files, "position.gpx")).length).toBe(pos.length);

  // The edge's own package of the same window.
  const job = await (await edgeApi("/api/v1/exports", { method: "POST", body: JSON.stringify({ cameraId: "front", from: r.from, to: r.to }) })).json() as { id: string };
  await until("edge export done", async () => ((await (await edgeApi(`/api/v1/exports/${job.id}`)).json()) as { state: string }).state === "done");
  const epkg = await edgeApi(`/api/v1/exports/${job.id}/package`);
  expect(epkg.status).toBe(200);
  const ef = readZip(new Uint8Array(await epkg.arrayBuffer())).files;
  const em = JSON.parse(text(ef, "manifest.json")) as Manifest;
  expect(em.position.sidecars!.map((s) => s.file)).toEqual(["position.vmt", "position.gpx"]);
  const egpx = gpxPoints(text(ef, "position.gpx"));
  expect(egpx.length).toBeGreaterThanOrEqual(2);
  expect(egpx.every((p) => Math.abs(p.lat - 47.4) < 1e-4)).toBe(true);
  expect(JSON.parse(text(ef, "position.json")).track.length).toBeGreaterThanOrEqual(egpx.length);
}, 300_000);

test("inputs from the vehicle computer (MQTT) and from the camera's digital input reach central with their time and source", async () => {
  const pc = await mqtt.connectAsync(brokerUrl, { clientId: `vc-${process.pid}` });
  const at = new Date(Date.now() - 3000).toISOString();
  await until("the edge subscribed to the vehicle computer's broker", () => sink.records.some((x) => x.msg.includes("connected to the MQTT broker")));
  await pc.publishAsync("bus7/inputs/panic", JSON.stringify({ state: true, at }), { qos: 1 });
  const panic = await until("panic at central", async () => (await api("/api/v1/events?limit=100&type=input")).events.find((e: { siteId: string; data: { input?: string } }) => e.siteId === siteId && e.data.input === "panic"));
  expect(panic.time).toBe(at);
  expect(panic.data).toMatchObject({ state: true, source: "mqtt" });
  // The camera's digital input 1 is the rear door (vehicle.onvifInputs).
  await until("ONVIF events subscribed", () => sink.records.some((x) => x.msg === "ONVIF event subscription created"), 30_000);
  sim.emitEvent(sim.cameras[0]!.id, { type: "input", state: true });
  const door = await until("rear door at central", async () => (await api("/api/v1/events?limit=100&type=input")).events.find((e: { siteId: string; data: { input?: string } }) => e.siteId === siteId && e.data.input === "door-rear"));
  expect(door.data).toMatchObject({ state: true, source: "onvif" });
  expect(door.cameraId ?? null).toBeNull(); // a vehicle input, not a camera's
  await pc.endAsync();
}, 120_000);

test("depot offload: on depot WiFi while driving nothing is pulled; parked (ignition off over MQTT) → everything central lacks arrives at bulk class; 'last offloaded' is shown", async () => {
  const cameraId = `${siteId}.front`;
  await api(`/api/v1/sites/${siteId}/policy`, { method: "PUT", body: JSON.stringify({ options: ["on-request"], offload: { links: ["depot-wifi"] } }) });
  await api(`/api/v1/sites/${siteId}/commands`, { method: "POST", body: JSON.stringify({ name: "set-link", args: { type: "depot-wifi" } }) });
  await until("the edge on depot WiFi", async () => (await api(`/api/v1/sites/${siteId}/transfer`)).link === "depot-wifi");
  const before = (await api(`/api/v1/sites/${siteId}/transfer`)).commits;
  await Bun.sleep(4000); // several work polls while running on depot WiFi
  const running = await api(`/api/v1/sites/${siteId}/transfer`);
  expect(running.offload).toMatchObject({ state: "idle", links: ["depot-wifi"], lastOffloadedAt: null });
  expect(running.commits).toBe(before);
  expect((await api("/api/v1/fleet/positions")).vehicles.find((v: { siteId: string }) => v.siteId === siteId).lastOffloadAt).toBeNull();

  // Ignition off from the vehicle computer: recording stops after recordAfterOffMs, the bus is parked.
  const pc = await mqtt.connectAsync(brokerUrl, { clientId: `vc2-${process.pid}` });
  await pc.publishAsync("bus7/inputs/ignition", "off", { qos: 1 });
  await pc.endAsync();
  await until("parked", () => edge.vehicle.state === "parked");
  const parkedAt = Date.now();
  const done = await until("offload done", async () => {
    const t = await api(`/api/v1/sites/${siteId}/transfer`);
    return t.offload.state === "done" && t;
  }, 180_000);
  expect(done.commits).toBeGreaterThan(before);
  expect(Date.parse(done.offload.lastOffloadedAt)).toBeGreaterThanOrEqual(parkedAt - 1000);
  // Everything the edge recorded is at central now (segment by segment, by start).
  const edgeSegs = (await edge.store.segments({ cameraId: "front", stream: "main", fromMs: 0, toMs: parkedAt })).filter((s) => !s.open);
  const central = await api(`/api/v1/cameras/${cameraId}/segments?from=${new Date(edgeSegs[0]!.startMs).toISOString()}&to=${new Date(parkedAt).toISOString()}`);
  const centralStarts = new Set(central.segments.map((s: { start: string }) => Date.parse(s.start)));
  expect(edgeSegs.filter((s) => !centralStarts.has(s.startMs))).toEqual([]);
  // Pulled at bulk class on the depot link.
  expect(sink.records.some((x) => x.msg === "depot offload started")).toBe(true);
  const live = (await api("/api/v1/fleet/positions")).vehicles.find((v: { siteId: string }) => v.siteId === siteId);
  expect(live.lastOffloadAt).toBe(done.offload.lastOffloadedAt);
  // Ignition on: the window closes.
  expect((await edgeApi("/api/v1/inputs", { method: "POST", body: JSON.stringify({ input: "ignition", state: true }) })).status).toBe(202);
  await until("offload window closed", async () => (await api(`/api/v1/sites/${siteId}/transfer`)).offload.state === "idle");
}, 400_000);
