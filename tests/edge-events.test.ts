/**
 * Edge events end to end: camsim ONVIF cameras → a real edge (startEdge, edge/events) enrolled
 * with a real central (startCentralSite) over MQTT/mTLS through a cuttable TCP proxy → central's
 * events, rules → alarms, and system log. Motion, a link outage (late, once, in order), camera
 * offline/online, an unshared camera, and edge warnings in central's syslog.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { CutProxy } from "../central/live/testkit.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { enroll, type Identity } from "../edge/identity/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";

const EDGE_PW = "edge-events-pw";
let root: string;
let sim: Camsim;
let site: CentralSite;
let edge: Edge;
let identity: Identity;
let proxy: CutProxy;
let token: string;
let edgeToken: string;

type Ev = { id: string; type: string; time: string; arrivedAt: string; late: boolean; cameraId: string | null; siteId: string | null; data: Record<string, unknown> };

const api = async (path: string, init: RequestInit = {}) => {
  const r = await fetch(site.central.apiUrl + path, { ...init, headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json() as Promise<any>;
};
const centralEvents = async (q = ""): Promise<Ev[]> => ((await api(`/api/v1/events?limit=1000${q}`)) as { events: Ev[] }).events;
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "outpost-edge-events-"));
  const log = new Logger({ component: "test", sink: new MemorySink(), level: "info" });
  sim = await startCamsim({ cameras: 2, discoveryPort: null, maxPullWaitMs: 1000, main: { width: 320, height: 180, bitrateKbps: 200 }, sub: { width: 160, height: 90, bitrateKbps: 100 }, log });
  site = await startCentralSite(
    { dataDir: join(root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } }, operations: { lateAfterSeconds: 2 } } as never,
    { log },
  );
  const login = (await (await fetch(site.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: site.central.initialAdminPassword }) })).json()) as { token: string };
  token = login.token;
  const t = await site.central.createEnrollmentToken("Bus 7");
  const edgeDir = join(root, "edge");
  identity = await enroll({ centralUrl: site.central.enrollUrl, token: t.token, dataDir: edgeDir, log });
  proxy = new CutProxy({ host: "127.0.0.1", port: Number(new URL(site.central.mqttUrl).port) });
  await proxy.start();
  edge = await startEdge(
    {
      dataDir: edgeDir,
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      api: { enabled: true, host: "127.0.0.1", port: 0, plainHttp: true },
      admin: { user: "admin", passwordHash: await Bun.password.hash(EDGE_PW, "argon2id") },
      ingest: { staggerMs: 100, backoffInitialMs: 300, backoffMaxMs: 1000, stallTimeoutMs: 3000 },
      federation: { share: ["cam1"], mqttUrl: `mqtts://127.0.0.1:${proxy.port}` },
      cameras: sim.cameras.map((c) => ({ id: c.id, onvif: { address: `127.0.0.1:${c.onvifPort}` }, user: sim.user, password: sim.password, streams: ["main"] })),
    } as never,
    { log, events: { holdMs: 1000, pollMs: 200, onvif: { backoff: { minMs: 200, maxMs: 1000 }, renewMs: 5000 } } },
  );
  edgeToken = ((await (await fetch(edge.url + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: EDGE_PW }) })).json()) as { token: string }).token;
  await until("edge recording and connected", async () => edge.uplink?.status().connected && edge.status().cameras.every((c) => c.streams.some((s) => s.state === "recording")), 30_000);
}, 60_000);

afterAll(async () => {
  await edge?.stop().catch(() => undefined);
  await proxy?.close().catch(() => undefined);
  await site?.close().catch(() => undefined);
  await sim?.close().catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

test("motion → event at central with camera id and original time → rule → alarm; unshared camera stays on the edge", async () => {
  const siteId = identity.siteId;
  await api("/api/v1/rules/motion-alarm", { method: "PUT", body: JSON.stringify({ name: "Motion on a bus", match: { types: ["motion"], data: { state: "start" } }, actions: [{ kind: "alarm", priority: 2, instructions: "Look at it" }] }) });
  // Subscriptions are up once the Initialized state was pulled; give the listeners a moment.
  await Bun.sleep(800);
  const before = Date.now();
  sim.emitEvent("cam1", { type: "motion", state: true });
  sim.emitEvent("cam2", { type: "motion", state: true });
  const ev = await until("motion at central", async () => (await centralEvents("&type=motion")).find((e) => e.cameraId === `${siteId}.cam1`));
  expect(ev).toMatchObject({ type: "motion", siteId, late: false, data: { state: "start", active: true } });
  const t = Date.parse(ev.time);
  expect(t).toBeGreaterThanOrEqual(before);
  expect(t).toBeLessThanOrEqual(Date.parse(ev.arrivedAt));
  const alarm = await until("alarm", async () => ((await api("/api/v1/alarms")) as { alarms: any[] }).alarms.find((a) => a.eventId === ev.id));
  expect(alarm).toMatchObject({ state: "new", priority: 2, cameraId: `${siteId}.cam1`, eventType: "motion", ruleId: "motion-alarm", eventTime: ev.time });

  // cam2 is not shared: the edge keeps its event locally, central never sees it.
  const local = await until("cam2 event on the edge", async () => {
    const r = (await (await fetch(edge.url + "/api/v1/events", { headers: { authorization: `Bearer ${edgeToken}` } })).json()) as { events: { cameraId: string; type: string }[] };
    return r.events.find((e) => e.cameraId === "cam2" && e.type === "motion");
  });
  expect(local).toBeTruthy();
  sim.emitEvent("cam1", { type: "motion", state: false });
  await until("motion end", async () => (await centralEvents("&type=motion")).some((e) => e.data.state === "end"));
  expect((await centralEvents()).some((e) => e.cameraId?.endsWith(".cam2"))).toBe(false);
  const edgeLocalNoAuth = await fetch(edge.url + "/api/v1/events");
  expect(edgeLocalNoAuth.status).toBe(401);
}, 30_000);

test("link outage: events produced meanwhile arrive later, once, in order, marked late", async () => {
  const seen = new Set((await centralEvents("&type=input")).map((e) => e.id));
  expect(seen.size).toBe(0);
  proxy.cut();
  await until("link down at the edge", async () => !edge.uplink!.status().connected);
  for (let i = 0; i < 3; i++) {
    sim.emitEvent("cam1", { type: "input", state: true });
    await Bun.sleep(150);
    sim.emitEvent("cam1", { type: "input", state: false });
    await Bun.sleep(150);
  }
  await until("6 input events queued", async () => {
    const r = (await (await fetch(edge.url + "/api/v1/events", { headers: { authorization: `Bearer ${edgeToken}` } })).json()) as { events: { type: string }[] };
    return r.events.filter((e) => e.type === "input").length === 6;
  });
  await Bun.sleep(2500); // past central's lateAfterSeconds (2)
  expect((await centralEvents("&type=input")).length).toBe(0);
  proxy.restore();
  const got = await until("6 late inputs at central", async () => {
    const evs = await centralEvents("&type=input");
    return evs.length >= 6 ? evs : undefined;
  });
  await Bun.sleep(1000);
  const all = await centralEvents("&type=input");
  expect(all.length).toBe(6);
  expect(new Set(all.map((e) => e.id)).size).toBe(6);
  expect(all.every((e) => e.late)).toBe(true);
  const byTime = [...all].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  expect(byTime.map((e) => e.data.state)).toEqual([true, false, true, false, true, false]);
  expect(byTime.every((e) => e.data.input === "DigitalInput_1")).toBe(true);
  // Arrival order at central follows observation order.
  const byArrival = [...got].sort((a, b) => Date.parse(a.arrivedAt) - Date.parse(b.arrivedAt) || Date.parse(a.time) - Date.parse(b.time));
  expect(byArrival.map((e) => e.id)).toEqual(byTime.map((e) => e.id));
}, 30_000);

test("camera stop → camera.offline (with reason), start → camera.online; the edge's warnings reach central's system log", async () => {
  const siteId = identity.siteId;
  await sim.stop("cam1");
  const off = await until("camera.offline", async () => (await centralEvents("&type=camera.offline")).find((e) => e.cameraId === `${siteId}.cam1`), 20_000);
  expect(typeof off.data.reason).toBe("string");
  expect(["camera-offline", "stall"]).toContain(off.data.reason as string);
  await sim.start("cam1");
  const on = await until("camera.online", async () => (await centralEvents("&type=camera.online")).find((e) => e.cameraId === `${siteId}.cam1`), 20_000);
  expect(Date.parse(on.time)).toBeGreaterThan(Date.parse(off.time));
  expect((await centralEvents("&type=camera.*")).filter((e) => e.cameraId === `${siteId}.cam1`).length).toBe(2);
  const entries = await until("edge warning in syslog", async () => {
    const r = (await api(`/api/v1/syslog?source=${encodeURIComponent(siteId)}`)) as { entries: { source: string; level: string; msg: string; component: string }[] };
    return r.entries.length ? r.entries : undefined;
  });
  expect(entries.every((e) => e.level === "warn" || e.level === "error")).toBe(true);
  expect(JSON.stringify(entries)).not.toContain(`:${sim.password}@`);
}, 45_000);
