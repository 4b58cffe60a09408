/**
 * Central operations end to end over real HTTP and a real DuckDB file: rights matrix, events
 * (API key, late events and time profiles), rules → alarms/webhook/MQTT/retrieval outcome,
 * alarm workflow and SSE push, audit records, system log, OpenAPI, login throttling.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCentral, type Central } from "../index.ts";
import { enroll } from "../../edge/identity/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { ManualClock } from "../../lib/clock.ts";

const clock = new ManualClock(Date.now());
const sink = new MemorySink();
const log = new Logger({ component: "test", sink, level: "debug" });
let root: string;
let central: Central;
const tok: Record<string, string> = {};
let siteA: string;
let siteB: string;
let apiKey: string;
const hooks: { received: unknown[]; fail: number; server?: ReturnType<typeof Bun.serve> } = { received: [], fail: 1 };

async function api(method: string, p: string, body?: unknown, token: string | null = tok.admin!, headers: Record<string, string> = {}) {
  const res = await fetch(central.apiUrl + p, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", headers: res.headers, body: (text ? JSON.parse(text) : null) as any };
}

async function login(user: string, password: string) {
  const r = await api("POST", "/api/v1/login", { user, password }, null);
  expect(r.status).toBe(200);
  return r.body.token as string;
}

const cams = () => ({ camA1: siteA, camA2: siteA, camB1: siteB }) as Record<string, string>;
const prevDayAt = (h: number) => {
  const d = new Date(clock.now() - 86_400_000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h);
};

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-ops-"));
  hooks.server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      hooks.received.push(await req.json());
      if (hooks.fail-- > 0) return new Response("try again", { status: 503 });
      return new Response("ok");
    },
  });
  central = await startCentral(
    {
      dataDir: path.join(root, "central"),
      api: { port: 0, plainHttp: true },
      enroll: { port: 0 },
      federation: { port: 0 },
      mqtt: { port: 0 },
      operations: {
        login: { maxFailures: 3, lockMinutes: 1 },
        lateAfterSeconds: 60,
        timeProfiles: [{ name: "nights", windows: [{ days: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], from: "22:00", to: "06:00" }] }],
        rules: [{ id: "night-motion", name: "Motion at night", match: { types: ["motion"] }, timeProfile: "nights", actions: [{ kind: "alarm", priority: 2, instructions: "Call the driver" }] }],
      },
    },
    { log, clock },
  );
  tok.admin = await login("admin", central.initialAdminPassword!);
  for (const [name, dir] of [["Bus A", "a"], ["Bus B", "b"]] as const) {
    const t = await api("POST", "/api/v1/enrollment-tokens", { site: name });
    const id = await enroll({ centralUrl: t.body.enrollUrl, token: t.body.token, dataDir: path.join(root, dir) });
    if (dir === "a") siteA = id.siteId;
    else siteB = id.siteId;
  }
  central.ops.rights.setCameraDirectory({ siteOf: (c) => cams()[c] ?? null });
  expect((await api("PUT", "/api/v1/roles/operator-a", { grants: [{ rights: ["view-live", "playback", "ack-alarms"], scope: `site:${siteA}` }] })).status).toBe(200);
  expect((await api("PUT", "/api/v1/camera-groups/b-front", { cameras: ["camB1"] })).status).toBe(200);
  expect((await api("PUT", "/api/v1/roles/cam-viewer", { grants: [{ rights: ["view-live"], scope: "group:b-front" }] })).status).toBe(200);
  expect((await api("PUT", "/api/v1/roles/nothing", { grants: [] })).status).toBe(200);
  for (const [u, role] of [["opa", "operator-a"], ["viewer", "cam-viewer"], ["nobody", "nothing"]] as const) {
    expect((await api("POST", "/api/v1/users", { name: u, password: `pw-${u}-12345`, roles: [role] })).status).toBe(201);
    tok[u] = await login(u, `pw-${u}-12345`);
  }
  const k = await api("POST", "/api/v1/api-keys", { name: "door-system" });
  expect(k.status).toBe(201);
  apiKey = k.body.key;
});

afterAll(async () => {
  await central?.close();
  hooks.server?.stop(true);
  await fs.rm(root, { recursive: true, force: true });
});

const post = (body: unknown, key = apiKey) => api("POST", "/api/v1/events", body, null, { "x-api-key": key });

describe("events and rules", () => {
  test("POST /api/v1/events needs a valid API key and a valid body; duplicates count once", async () => {
    expect((await post({ type: "door.forced" }, "")).status).toBe(401);
    expect((await post({ type: "door.forced" }, "opk_nope")).status).toBe(401);
    expect((await api("POST", "/api/v1/events", { type: "door.forced" })).status).toBe(401); // a session is not an API key
    const bad = await post({ type: "Door Forced!" });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain("type");
    const a = await post({ id: "d1", type: "door.forced", cameraId: "camA1" });
    expect(a.status).toBe(202);
    expect(a.body).toMatchObject({ duplicate: false, event: { source: "external", origin: "door-system", siteId: siteA, cameraId: "camA1", late: false } });
    expect((await post({ id: "d1", type: "door.forced", cameraId: "camA1" })).body.duplicate).toBe(true);
    const list = await api("GET", `/api/v1/events?type=door.*&camera=camA1`);
    expect(list.body.events).toHaveLength(1);
  });

  test("a late event fires rules by its original time, not its arrival time", async () => {
    const night = prevDayAt(23);
    const day = prevDayAt(12);
    const dry = await api("POST", "/api/v1/rules/dry-run", { type: "motion", time: new Date(day).toISOString(), cameraId: "camA2", source: "edge" });
    expect(dry.status).toBe(200);
    expect(dry.body.fires).toEqual([]);
    expect(dry.body.notFired.find((r: any) => r.id === "night-motion").reason).toContain("outside time profile nights");
    const dry2 = await api("POST", "/api/v1/rules/dry-run", { type: "motion", time: new Date(night).toISOString(), cameraId: "camA2", source: "edge" });
    expect(dry2.body.fires.map((r: any) => r.id)).toEqual(["night-motion"]);
    expect(dry2.body.event.late).toBe(true);
    expect(await api("GET", "/api/v1/alarms?camera=camA2").then((r) => r.body.total)).toBe(0); // dry run did nothing

    // As the control plane delivers a backlog from an edge that was offline:
    const r1 = await central.ops.ingestEvent({ id: "edge-1", type: "motion", time: new Date(day).toISOString(), source: "edge", siteId: siteA, cameraId: "camA2" });
    const r2 = await central.ops.ingestEvent({ id: "edge-2", type: "motion", time: new Date(night).toISOString(), source: "edge", siteId: siteA, cameraId: "camA2" });
    expect(r1.event.late && r2.event.late).toBe(true);
    expect(r2.event.time).toBe(new Date(night).toISOString());
    const alarms = await api("GET", "/api/v1/alarms?camera=camA2");
    expect(alarms.body.total).toBe(1);
    expect(alarms.body.alarms[0]).toMatchObject({ eventId: "edge-2", eventTime: new Date(night).toISOString(), late: true, priority: 2, instructions: "Call the driver", state: "new", ruleId: "night-motion" });
    expect(alarms.body.alarms[0].links.video).toContain("/api/v1/cameras/camA2/video?from=");
  });

  test("rules are validated", async () => {
    const bad = [
      { name: "x", match: { types: ["motion"] }, actions: [] },
      { name: "x", match: { types: ["motion"] }, timeProfile: "nope", actions: [{ kind: "alarm" }] },
      { name: "x", match: { types: ["motion"] }, actions: [{ kind: "mqtt", topic: "outpost/v1/sites/x/cmd" }] },
      { name: "x", match: { types: ["motion"] }, actions: [{ kind: "webhook", url: "ftp://x" }] },
      { name: "x", match: { types: ["motion"] }, actions: [{ kind: "teleport" }] },
    ];
    for (const b of bad) {
      const r = await api("PUT", "/api/v1/rules/bad", b);
      expect(r.status).toBe(400);
      expect(r.type).toContain("problem+json");
    }
    expect((await api("PUT", "/api/v1/time-profiles/x", { windows: [{ days: ["mon"], from: "25:00", to: "01:00" }] })).status).toBe(400);
  });

  test("webhook (real HTTP, retried), MQTT publish and retrieval outcome on the alarm", async () => {
    const got: string[] = [];
    central.broker.subscribe("ops/panic", (packet, cb) => (got.push(packet.payload.toString()), cb()), () => {});
    const rule = {
      name: "Panic",
      match: { types: ["panic"], sites: [siteB] },
      actions: [
        { kind: "alarm", priority: 1 },
        { kind: "webhook", url: `http://127.0.0.1:${hooks.server!.port}/hook`, retries: 2 },
        { kind: "mqtt", topic: "ops/panic", qos: 1 },
        { kind: "retrieve", preSeconds: 10, postSeconds: 20, priority: "alarm" },
        { kind: "live-main", seconds: 30 },
      ],
    };
    expect((await api("PUT", "/api/v1/rules/panic", rule)).status).toBe(200);
    const t = clock.now();
    await central.ops.ingestEvent({ id: "p1", type: "panic", time: new Date(t).toISOString(), source: "edge", siteId: siteB, cameraId: "camB1", data: { button: 1 } });
    let alarm: any;
    for (let i = 0; i < 100; i++) {
      alarm = (await api("GET", "/api/v1/alarms?camera=camB1&priority=1")).body.alarms[0];
      if (alarm && alarm.actions[1].state === "done" && alarm.actions[2].state === "done") break;
      await Bun.sleep(50);
    }
    expect(hooks.received.length).toBe(2); // first answered 503, retried
    expect(hooks.received[1]).toMatchObject({ rule: { id: "panic" }, alarmId: alarm.id, event: { id: "p1", type: "panic", data: { button: 1 } } });
    expect(alarm.actions.map((a: any) => [a.kind, a.state])).toEqual([
      ["alarm", "done"],
      ["webhook", "done"],
      ["mqtt", "done"],
      ["retrieve", "unavailable"],
      ["live-main", "unavailable"],
    ]);
    expect(alarm.actions[1].detail).toContain("attempt 2");
    expect(alarm.clip).toMatchObject({ state: "unavailable", from: new Date(t - 10_000).toISOString(), to: new Date(t + 20_000).toISOString() });
    expect(JSON.parse(got[0]!)).toMatchObject({ alarmId: alarm.id, event: { id: "p1" } });

    // With a transfer engine registered, the alarm waits for and then shows the clip.
    central.ops.hooks.requestRetrieval = async (r) => ({ retrievalId: `ret-${r.cameraId}-${r.priority}` });
    await central.ops.ingestEvent({ id: "p2", type: "panic", time: new Date(t + 1000).toISOString(), source: "edge", siteId: siteB, cameraId: "camB1" });
    let a2: any;
    for (let i = 0; i < 50 && a2?.clip?.retrievalId !== "ret-camB1-alarm"; i++) {
      await Bun.sleep(20);
      a2 = (await api("GET", "/api/v1/alarms?camera=camB1&priority=1&sort=-time")).body.alarms[0];
    }
    expect(a2.clip).toMatchObject({ state: "requested", retrievalId: "ret-camB1-alarm" });
    expect(await central.ops.alarms.attachClip("ret-camB1-alarm", { state: "ready", url: "/api/v1/cameras/camB1/video?from=x&to=y" })).toEqual([a2.id]);
    const attached = (await api("GET", `/api/v1/alarms/${a2.id}`)).body.clip;
    expect(attached).toMatchObject({ state: "ready", url: "/api/v1/cameras/camB1/video?from=x&to=y" });
    // the clip no longer says it is requested once it is attached
    expect(attached.detail).not.toContain("requested");
    expect(attached.detail).toContain("attached");
    const aud = await api("GET", "/api/v1/audit?camera=camB1&action=retrieval");
    expect(aud.body.records[0]).toMatchObject({ user: "system", action: "retrieval", cameraId: "camB1", from: new Date(t + 1000 - 10_000).toISOString() });
    delete central.ops.hooks.requestRetrieval;
  });

  test("a retrieve action that names a camera works on site-level events (geofence.enter): the camera is found on the event's site by id or name; an unknown one fails with a reason", async () => {
    const asked: { cameraId: string; fromMs: number; toMs: number }[] = [];
    central.ops.hooks.requestRetrieval = async (r) => (asked.push(r), { retrievalId: `ret-${asked.length}` });
    central.ops.hooks.resolveCamera = async (site, ref) => (site === siteB && (ref === "front" || ref === "camB1") ? "camB1" : null);
    const rule = { name: "Zone X", match: { types: ["geofence.enter"] }, actions: [{ kind: "alarm", priority: 4 }, { kind: "retrieve", camera: "front", preSeconds: 60, postSeconds: 60 }] };
    expect((await api("PUT", "/api/v1/rules/zone-x", rule)).status).toBe(200);
    const t = clock.now();
    await central.ops.ingestEvent({ id: "g1", type: "geofence.enter", time: new Date(t).toISOString(), source: "system", siteId: siteB, data: { geofence: "x" } });
    let a: any;
    for (let i = 0; i < 100 && a?.actions?.[1]?.state !== "requested"; i++) {
      await Bun.sleep(20);
      a = (await api("GET", "/api/v1/alarms?priority=4&sort=-time")).body.alarms.find((x: any) => x.siteId === siteB && x.ruleId === "zone-x");
    }
    expect(asked).toEqual([expect.objectContaining({ cameraId: "camB1", fromMs: t - 60_000, toMs: t + 60_000 })]);
    expect(a.actions[1]).toMatchObject({ kind: "retrieve", state: "requested", detail: "retrieval ret-1" });
    expect(a.clip).toMatchObject({ retrievalId: "ret-1", from: new Date(t - 60_000).toISOString() });
    // A site without such a camera: the action fails, saying why; nothing is requested.
    await central.ops.ingestEvent({ id: "g2", type: "geofence.enter", time: new Date(t + 1).toISOString(), source: "system", siteId: siteA, data: { geofence: "x" } });
    let b: any;
    for (let i = 0; i < 100 && b?.actions?.[1]?.state !== "failed"; i++) {
      await Bun.sleep(20);
      b = (await api("GET", "/api/v1/alarms?priority=4&sort=-time")).body.alarms.find((x: any) => x.siteId === siteA && x.ruleId === "zone-x");
    }
    expect(b.actions[1].detail).toContain('has no camera "front"');
    expect(asked.length).toBe(1);
    delete central.ops.hooks.requestRetrieval;
    delete central.ops.hooks.resolveCamera;
    expect((await api("DELETE", "/api/v1/rules/zone-x")).status).toBe(200);
  });
});

describe("alarms", () => {
  test("workflow new → in-progress (assigned) → closed with comments; closed stays closed", async () => {
    const id = (await api("GET", "/api/v1/alarms?camera=camA2")).body.alarms[0].id;
    expect((await api("PATCH", `/api/v1/alarms/${id}`, {})).status).toBe(400);
    const taken = await api("PATCH", `/api/v1/alarms/${id}`, { state: "in-progress" }, tok.opa);
    expect(taken.body).toMatchObject({ state: "in-progress", assignee: "opa" });
    expect((await api("PATCH", `/api/v1/alarms/${id}`, { assignee: "ghost" }, tok.opa)).status).toBe(400);
    const closed = await api("PATCH", `/api/v1/alarms/${id}`, { state: "closed", comment: "driver confirmed, false alarm" }, tok.opa);
    expect(closed.body.state).toBe("closed");
    expect((await api("PATCH", `/api/v1/alarms/${id}`, { state: "in-progress" }, tok.opa)).status).toBe(409);
    const one = await api("GET", `/api/v1/alarms/${id}`, undefined, tok.opa);
    expect(one.body.comments.map((c: any) => [c.user, c.text, c.state])).toEqual([
      ["opa", "state new → in-progress", "in-progress"],
      ["opa", "driver confirmed, false alarm", "closed"],
    ]);
  });

  test("list filter, sort and paging", async () => {
    for (let i = 0; i < 12; i++) await central.ops.ingestEvent({ type: "motion", time: new Date(prevDayAt(23) + i * 1000).toISOString(), source: "edge", cameraId: "camA1" });
    const p1 = await api("GET", "/api/v1/alarms?camera=camA1&limit=5&sort=time");
    const p3 = await api("GET", "/api/v1/alarms?camera=camA1&limit=5&offset=10&sort=time");
    expect(p1.body.total).toBe(12);
    expect(p1.body.alarms).toHaveLength(5);
    expect(p3.body.alarms).toHaveLength(2);
    expect(Date.parse(p1.body.alarms[0].eventTime)).toBeLessThan(Date.parse(p1.body.alarms[4].eventTime));
    expect((await api("GET", "/api/v1/alarms?state=new,in-progress&camera=camA1")).body.total).toBe(12);
    expect((await api("GET", "/api/v1/alarms?state=open")).status).toBe(400);
    expect((await api("GET", "/api/v1/alarms?sort=sideways")).status).toBe(400);
  });

  test("changes are pushed over SSE within 1 s, only to users who may see them", async () => {
    const open = async (token: string) => {
      const ctrl = new AbortController();
      const res = await fetch(central.apiUrl + "/api/v1/alarms/stream", { headers: { authorization: `Bearer ${token}` }, signal: ctrl.signal });
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      const reader = res.body!.getReader();
      const seen: { at: number; data: any }[] = [];
      let buf = "";
      void (async () => {
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
          if (done) return;
          buf += new TextDecoder().decode(value);
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const chunk = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(chunk)?.[1];
            const data = /^data: (.*)$/m.exec(chunk)?.[1];
            if (ev === "alarm" && data) seen.push({ at: performance.now(), data: JSON.parse(data) });
            if (ev === "ready") seen.push({ at: performance.now(), data: "ready" });
          }
        }
      })();
      return { seen, close: () => ctrl.abort() };
    };
    const a = await open(tok.opa!);
    const v = await open(tok.viewer!);
    for (let i = 0; i < 100 && (a.seen.length === 0 || v.seen.length === 0); i++) await Bun.sleep(10);
    const t0 = performance.now();
    const r = await post({ id: "sse-1", type: "motion", time: new Date(prevDayAt(23)).toISOString(), cameraId: "camA1" });
    expect(r.status).toBe(202);
    for (let i = 0; i < 100 && a.seen.length < 2; i++) await Bun.sleep(10);
    const created = a.seen[1]!;
    expect(created.data).toMatchObject({ kind: "created", alarm: { eventId: `ext:${r.body.event.id.split(":")[1]}:sse-1`, cameraId: "camA1" } });
    expect(created.at - t0).toBeLessThan(1000);
    const t1 = performance.now();
    await api("PATCH", `/api/v1/alarms/${created.data.alarm.id}`, { state: "in-progress" }, tok.opa);
    for (let i = 0; i < 100 && a.seen.length < 3; i++) await Bun.sleep(10);
    expect(a.seen[2]!.data).toMatchObject({ kind: "updated", alarm: { state: "in-progress" } });
    expect(a.seen[2]!.at - t1).toBeLessThan(1000);
    expect(v.seen.map((x) => x.data)).toEqual(["ready"]); // camA1 is not the viewer's
    a.close();
    v.close();
  });
});

describe("rights matrix", () => {
  const adminOnly: [string, string, unknown?][] = [
    ["GET", "/api/v1/users"],
    ["POST", "/api/v1/users", { name: "eve", password: "12345678910", roles: ["admin"] }],
    ["GET", "/api/v1/users/opa"],
    ["PATCH", "/api/v1/users/opa", { roles: ["admin"] }],
    ["DELETE", "/api/v1/users/viewer"],
    ["GET", "/api/v1/roles"],
    ["PUT", "/api/v1/roles/operator-a", { grants: [{ rights: ["admin-users"], scope: "*" }] }],
    ["DELETE", "/api/v1/roles/nothing"],
    ["GET", "/api/v1/camera-groups"],
    ["PUT", "/api/v1/camera-groups/g", { cameras: ["camA1"] }],
    ["DELETE", "/api/v1/camera-groups/b-front"],
    ["GET", "/api/v1/api-keys"],
    ["POST", "/api/v1/api-keys", { name: "x" }],
    ["DELETE", "/api/v1/api-keys/zzz"],
    ["GET", "/api/v1/rules"],
    ["GET", "/api/v1/rules/panic"],
    ["PUT", "/api/v1/rules/x", { name: "x", match: { types: ["*"] }, actions: [{ kind: "alarm" }] }],
    ["DELETE", "/api/v1/rules/panic"],
    ["POST", "/api/v1/rules/dry-run", { type: "motion", time: new Date().toISOString() }],
    ["GET", "/api/v1/time-profiles"],
    ["PUT", "/api/v1/time-profiles/x", { windows: [{ days: ["mon"], from: "01:00", to: "02:00" }] }],
    ["DELETE", "/api/v1/time-profiles/nights"],
    ["GET", "/api/v1/audit"],
    ["GET", "/api/v1/audit/verify"],
    ["GET", "/api/v1/syslog"],
    ["POST", "/api/v1/enrollment-tokens", { site: "sneaky" }],
  ];

  test("every admin endpoint: 401 without a session, 403 for users without the right", async () => {
    for (const [m, p, b] of adminOnly) {
      expect([m, p, (await api(m, p, b, null)).status]).toEqual([m, p, 401]);
      for (const u of ["opa", "viewer", "nobody"]) {
        const r = await api(m, p, b, tok[u]!);
        expect([u, m, p, r.status]).toEqual([u, m, p, 403]);
        expect(r.type).toContain("problem+json");
      }
    }
    // still intact after all those attempts
    expect((await api("GET", "/api/v1/rules/panic")).status).toBe(200);
    expect((await api("GET", "/api/v1/users/viewer")).status).toBe(200);
  });

  test("sites: lists show only what a user may see; others are 404, not 403", async () => {
    const names = async (u: string) => (await api("GET", "/api/v1/sites", undefined, tok[u]!)).body.sites.map((s: any) => s.id).sort();
    expect(await names("admin")).toEqual([siteA, siteB].sort());
    expect(await names("opa")).toEqual([siteA]);
    expect(await names("viewer")).toEqual([siteB]); // through camera group b-front
    expect(await names("nobody")).toEqual([]);
    expect((await api("GET", `/api/v1/sites/${siteB}`, undefined, tok.opa)).status).toBe(404);
    expect((await api("GET", `/api/v1/sites/${siteA}`, undefined, tok.opa)).status).toBe(200);
    expect((await api("DELETE", `/api/v1/sites/${siteB}`, undefined, tok.opa)).status).toBe(404);
    expect((await api("DELETE", `/api/v1/sites/${siteA}`, undefined, tok.opa)).status).toBe(403);
    expect(central.site(siteA)!.state).toBe("active");
  });

  test("events and alarms: nothing outside a user's cameras leaks, in any list or by id", async () => {
    await central.ops.ingestEvent({ id: "b-site-1", type: "site.offline", time: new Date(clock.now()).toISOString(), source: "link", siteId: siteB });
    const ev = async (u: string) => (await api("GET", "/api/v1/events?limit=1000", undefined, tok[u]!)).body.events as any[];
    const al = async (u: string, q = "") => (await api("GET", `/api/v1/alarms?limit=500${q}`, undefined, tok[u]!)).body as { alarms: any[]; total: number };
    expect((await ev("opa")).every((e) => e.siteId === siteA)).toBe(true);
    expect((await ev("opa")).length).toBeGreaterThan(0);
    expect((await ev("viewer")).every((e) => e.cameraId === "camB1")).toBe(true);
    expect((await ev("viewer")).length).toBeGreaterThan(0);
    expect(await ev("nobody")).toEqual([]);
    expect((await ev("admin")).some((e) => e.id === "b-site-1")).toBe(true);
    const opa = await al("opa");
    expect(opa.alarms.every((a) => a.siteId === siteA)).toBe(true);
    expect(opa.total).toBe(opa.alarms.length);
    expect((await al("opa", "&camera=camB1")).total).toBe(0); // filtering for another's camera reveals nothing
    expect((await al("nobody")).total).toBe(0);
    const bAlarm = (await al("admin", "&camera=camB1")).alarms[0];
    expect((await api("GET", `/api/v1/alarms/${bAlarm.id}`, undefined, tok.opa)).status).toBe(404);
    expect((await api("PATCH", `/api/v1/alarms/${bAlarm.id}`, { comment: "x" }, tok.opa)).status).toBe(404);
    expect((await api("GET", `/api/v1/alarms/${bAlarm.id}`, undefined, tok.viewer)).status).toBe(200);
    expect((await api("PATCH", `/api/v1/alarms/${bAlarm.id}`, { comment: "x" }, tok.viewer)).status).toBe(403); // sees it, may not acknowledge
    expect((await api("GET", `/api/v1/alarms/999999`, undefined, tok.admin)).status).toBe(404);
    expect((await api("GET", `/api/v1/alarms/abc`, undefined, tok.admin)).status).toBe(400);
  });

  test("/me shows effective grants; disabling a user ends their session", async () => {
    const me = await api("GET", "/api/v1/me", undefined, tok.viewer);
    expect(me.body).toMatchObject({ user: "viewer", roles: ["cam-viewer"], grants: [{ rights: ["view-live"], scope: "group:b-front" }] });
    expect((await api("PATCH", "/api/v1/users/nobody", { disabled: true })).status).toBe(200);
    expect((await api("GET", "/api/v1/me", undefined, tok.nobody)).status).toBe(401);
    expect((await api("PATCH", "/api/v1/users/admin", { disabled: true })).status).toBe(400);
    expect((await api("DELETE", "/api/v1/roles/cam-viewer")).status).toBe(409);
  });
});

describe("audit, system log, OpenAPI", () => {
  test("logins, failed logins and config changes are audited and queryable", async () => {
    const byAdmin = await api("GET", "/api/v1/audit?user=admin&action=config&limit=1000");
    const subjects = byAdmin.body.records.map((r: any) => r.subject);
    for (const s of ["role.put", "user.create", "camera-group.put", "api-key.create", "rule.put", "enrollment-token.create", "user.update"]) expect(subjects).toContain(s);
    expect((await api("GET", "/api/v1/audit?user=opa&action=login")).body.records.length).toBe(1);
    expect((await api("GET", "/api/v1/audit?action=alarm&user=opa")).body.records.length).toBeGreaterThan(0);
    expect((await api("GET", "/api/v1/audit?limit=0")).status).toBe(400);
    const v = await api("GET", "/api/v1/audit/verify");
    expect(v.body).toMatchObject({ ok: true, problems: [] });
  });

  test("system log holds central's warnings and edges' records, with access by site", async () => {
    expect(central.ops.ingestEdgeLogs(siteB, [{ t: new Date().toISOString(), level: "error", component: "edge.ingest", msg: "camera 2 pipeline died" }, { t: "x", level: "warn", msg: "bad" }, { t: new Date().toISOString(), level: "info", msg: "not kept" }])).toEqual({ stored: 1, rejected: 1 });
    const all = await api("GET", "/api/v1/syslog?limit=1000");
    expect(all.body.entries.some((e: any) => e.source === siteB && e.msg === "camera 2 pipeline died")).toBe(true);
    expect(all.body.entries.some((e: any) => e.source === "central" && e.msg === "login failed")).toBe(false); // none yet
    await api("POST", "/api/v1/login", { user: "viewer", password: "wrong-password" }, null);
    const warn = await api("GET", "/api/v1/syslog?source=central&q=login%20failed");
    expect(warn.body.entries[0]).toMatchObject({ level: "warn", component: "central.api", msg: "login failed" });
    await api("PUT", "/api/v1/roles/b-admin", { grants: [{ rights: ["admin-sites"], scope: `site:${siteB}` }] });
    await api("POST", "/api/v1/users", { name: "badmin", password: "pw-badmin-1234", roles: ["b-admin"] });
    const t = await login("badmin", "pw-badmin-1234");
    const mine = await api("GET", "/api/v1/syslog?limit=1000", undefined, t);
    expect(mine.body.entries.length).toBeGreaterThan(0);
    expect(mine.body.entries.every((e: any) => e.source === siteB)).toBe(true);
  });

  test("OpenAPI is generated from the request schemas", async () => {
    const doc = (await api("GET", "/api/v1/openapi.json", undefined, null)).body;
    expect(doc.paths["/api/v1/login"].post).toBeDefined();
    expect(doc.paths["/api/v1/alarms/{id}"].patch.requestBody.content["application/json"].schema.properties.state.enum).toEqual(["in-progress", "closed"]);
    const q = doc.paths["/api/v1/alarms"].get.parameters.find((p: any) => p.name === "sort");
    expect(q.schema.enum).toContain("-priority");
    expect(doc.paths["/api/v1/rules/{id}"].put.requestBody.content["application/json"].schema.properties.actions.items.oneOf ?? doc.paths["/api/v1/rules/{id}"].put.requestBody.content["application/json"].schema.properties.actions.items.anyOf).toBeDefined();
    expect(doc.paths["/api/v1/events"].post.security).toEqual([{ apiKey: [] }]);
  });
});

describe("sessions", () => {
  test("logout ends the session; the cookie works like the bearer token", async () => {
    const res = await fetch(central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "opa", password: "pw-opa-12345" }) });
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    const c = cookie.split(";")[0]!;
    expect((await fetch(central.apiUrl + "/api/v1/me", { headers: { cookie: c } })).status).toBe(200);
    // a cookie is only taken for a state change with this site's Origin, as a browser sends it (lib/http/origin.ts)
    expect((await fetch(central.apiUrl + "/api/v1/logout", { method: "POST", headers: { cookie: c } })).status).toBe(403);
    expect((await fetch(central.apiUrl + "/api/v1/logout", { method: "POST", headers: { cookie: c, origin: new URL(central.apiUrl).origin } })).status).toBe(200);
    expect((await fetch(central.apiUrl + "/api/v1/me", { headers: { cookie: c } })).status).toBe(401);
    expect((await api("GET", "/api/v1/audit?user=opa&action=logout")).body.records.length).toBe(1);
  });

  test("sessions expire", async () => {
    const t = await login("viewer", "pw-viewer-12345");
    clock.advance(13 * 3_600_000);
    expect((await api("GET", "/api/v1/me", undefined, t)).status).toBe(401);
    tok.admin = await login("admin", central.initialAdminPassword!);
  });

  test("throttling: after 3 failed logins even the right password is refused (429) until the lock ends", async () => {
    for (let i = 0; i < 3; i++) expect((await api("POST", "/api/v1/login", { user: "opa", password: "nope-nope" }, null)).status).toBe(401);
    const locked = await api("POST", "/api/v1/login", { user: "opa", password: "pw-opa-12345" }, null);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(locked.body.detail).toContain("Too many failed logins");
    clock.advance(61_000);
    expect((await api("POST", "/api/v1/login", { user: "opa", password: "pw-opa-12345" }, null)).status).toBe(200);
    const failed = await api("GET", "/api/v1/audit?user=opa&action=login-failed");
    expect(failed.body.records.some((r: any) => r.detail.reason === "throttled")).toBe(true);
  });
});
