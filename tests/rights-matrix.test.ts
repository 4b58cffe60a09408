/**
 * The generated rights matrix: walks central's OpenAPI document (generated from the route
 * definitions, so a new route is in it) and calls every operation as anonymous, as a
 * camera-scoped user and with a site-scoped API key of another site, against a real central
 * (startCentralSite: DuckDB, embedded MQTT over mTLS) with two enrolled sites whose uplinks
 * mirror real device trees. Each operation's `x-outpost-rights` rule says what must happen;
 * an operation without one fails the test, and so does a rule kind or path parameter the
 * matrix does not know (add the fixture for the new route). Below it, one assertion per leak
 * the outside review found.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import path from "node:path";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { MediaStore } from "../lib/store/index.ts";
import { startUplink, type Uplink, type UplinkCamera } from "../edge/uplink/index.ts";
import { enrollEdge, quiet } from "./lib/cp.ts";
import { removeTempDirs, tempDir, until } from "./helpers.ts";

setDefaultTimeout(120_000);

type Rule = Record<string, unknown>;
type Op = { "x-outpost-rights"?: Rule; produces?: string; responses: Record<string, { content?: Record<string, unknown> }> };

let site: CentralSite;
let api: string;
const uplinks: Uplink[] = [];
const stores: MediaStore[] = [];
let A: string; // the camera-scoped user's site
let B: string; // another site
let adminToken: string;
let camToken: string;
let keyA: string; // API key scoped to site A
let keyAny: string; // unscoped integration key
const ids: { alarmB?: number; retrievalB?: string; lockB?: string; exportB?: string } = {};
let releaseLive: (() => void) | undefined;
const SECRET = "lock-reason-only-site-B-may-read";

const cam = (id: string): UplinkCamera => ({ id, name: id, enabled: true, streams: [{ kind: "main", state: "recording", bitrateKbps: 500, fps: 15 }] });

async function call(method: string, p: string, o: { token?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; type: string; text: string }> {
  const ac = new AbortController();
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.key) headers["x-api-key"] = o.key;
  if (o.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(api + p, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body), signal: ac.signal });
  const type = res.headers.get("content-type") ?? "";
  // Streams (SSE) never end: the status and type are the answer.
  if (type.startsWith("text/event-stream")) {
    ac.abort();
    return { status: res.status, type, text: "" };
  }
  return { status: res.status, type, text: await res.text() };
}

const json = async <T>(method: string, p: string, body?: unknown, token = adminToken): Promise<T> => {
  const r = await call(method, p, { token, body });
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as T;
};

async function login(user: string, password: string): Promise<string> {
  return (await json<{ token: string }>("POST", "/api/v1/login", { user, password }, "")).token;
}

beforeAll(async () => {
  const root = await tempDir("rights");
  const dataDir = path.join(root, "central");
  site = await startCentralSite({ dataDir, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } } }, { log: quiet("central") });
  api = site.central.apiUrl;
  adminToken = await login("admin", site.central.initialAdminPassword!);
  for (const [name, cams] of [["Bus A", ["cam1", "cam2"]], ["Bus B", ["cam1"]]] as const) {
    const dir = path.join(root, name.replace(" ", "-"));
    const identity = await enrollEdge(site.central, name, dir);
    const store = await MediaStore.open({ root: path.join(dir, "store"), segmentDurationMs: 1000, minFreeBytes: 0, log: quiet() });
    stores.push(store);
    uplinks.push(await startUplink({ dataDir: dir, identity, store, cameras: () => cams.map(cam), share: [...cams], log: quiet("edge"), intervals: { syncMs: 200, treeMs: 200, healthMs: 500, ackTimeoutMs: 2000 } }));
    if (name === "Bus A") A = identity.siteId;
    else B = identity.siteId;
  }
  await until("both device trees at central", async () => (await json<{ cameras: unknown[] }>("GET", "/api/v1/cameras")).cameras.length === 3, 30_000);

  // The camera-scoped user: every viewing right on one camera of site A, retrievals capped at "request".
  await json("PUT", "/api/v1/roles/one-camera", { grants: [{ rights: ["view-live", "playback", "retrieve", "evidence-lock", "ack-alarms"], scope: `camera:${A}.cam1`, maxPriority: "request" }] });
  await json("POST", "/api/v1/users", { name: "cam", password: "camera-user-pw-1", roles: ["one-camera"] });
  camToken = await login("cam", "camera-user-pw-1");
  keyA = (await json<{ key: string }>("POST", "/api/v1/api-keys", { name: "site A integration", siteId: A })).key;
  keyAny = (await json<{ key: string }>("POST", "/api/v1/api-keys", { name: "fleet integration" })).key;

  // Things of site B the camera user must never see.
  const now = Date.now();
  const win = { from: new Date(now - 120_000).toISOString(), to: new Date(now - 60_000).toISOString() };
  ids.retrievalB = (await json<{ id: string }>("POST", "/api/v1/retrievals", { cameraId: `${B}.cam1`, ...win, priority: "backfill" })).id;
  ids.lockB = (await json<{ id: string }>("POST", "/api/v1/evidence-locks", { cameraId: `${B}.cam1`, ...win, reason: SECRET })).id;
  // An export job of site B's footage (the admin's): nobody scoped to site A may read or download it.
  const exportB = await call("POST", "/api/v1/exports", { token: adminToken, body: { cameraId: `${B}.cam1`, ...win }, headers: { prefer: "respond-async" } });
  expect(exportB.status).toBe(202);
  ids.exportB = (JSON.parse(exportB.text) as { id: string }).id;
  await json("PUT", "/api/v1/rules/intrusion", { name: "intrusion", match: { types: ["test.intrusion"] }, actions: [{ kind: "alarm", title: "intrusion" }] });
  const posted = await call("POST", "/api/v1/events", { key: keyAny, body: { type: "test.intrusion", cameraId: `${B}.cam1` } });
  expect(posted.status).toBe(202);
  ids.alarmB = await until("alarm on site B", async () => (await json<{ alarms: { id: number; siteId: string }[] }>("GET", "/api/v1/alarms")).alarms.find((a) => a.siteId === B)?.id);
  releaseLive = site.live.addViewer(B, "cam1", "main").release;
});

afterAll(async () => {
  releaseLive?.();
  for (const u of uplinks) await u.stop();
  for (const s of stores) await s.close();
  await site?.close();
  await removeTempDirs();
});

/** Concrete paths for an operation: path parameters filled with things the caller may not touch. */
function targetsFor(p: string, rule: Rule): string[] {
  const fixtures: [RegExp, () => string[]][] = [
    [/^\/api\/v1\/sites\/\{id\}/, () => [B, A]],
    [/^\/api\/v1\/cameras\/\{id\}/, () => [`${A}.cam2`, `${B}.cam1`]],
    [/^\/api\/v1\/alarms\/\{id\}/, () => [String(ids.alarmB)]],
    [/^\/api\/v1\/retrievals\/\{id\}/, () => [ids.retrievalB!]],
    [/^\/api\/v1\/evidence-locks\/\{id\}/, () => [ids.lockB!]],
    [/^\/api\/v1\/exports\/\{id\}/, () => [ids.exportB!]],
  ];
  const f = fixtures.find(([re]) => re.test(p));
  const targeted = "site" in rule || "camera" in rule || "resource" in rule;
  if (targeted && !f && !(typeof rule.camera === "string" && rule.camera.startsWith("body."))) throw new Error(`${p}: its rule names a site, camera or resource but the matrix has no fixture for it; add one to targetsFor`);
  const first = (v: string) => p.replace(/\{[A-Za-z0-9_]+\}/, encodeURIComponent(v)).replace(/\{[A-Za-z0-9_]+\}/g, "x");
  return f ? f[1]().map(first) : [p.replace(/\{[A-Za-z0-9_]+\}/g, "x")];
}

/** A body that names a foreign camera (rules that take their target from the body). */
function bodyFor(rule: Rule, targetCamera: string): unknown {
  if (typeof rule.camera === "string" && rule.camera.startsWith("body.")) {
    const now = Date.now();
    return { [rule.camera.slice(5)]: targetCamera, from: new Date(now - 60_000).toISOString(), to: new Date(now).toISOString() };
  }
  return {};
}

/** No id of site B and no other camera of site A in an answer the camera user gets. */
function expectNothingForeign(where: string, text: string): void {
  for (const foreign of [B, `${A}.cam2`, SECRET]) if (text.includes(foreign)) throw new Error(`${where} leaks ${foreign}: ${text.slice(0, 300)}`);
}

const KNOWN = ["public", "apiKey", "user", "right"];

describe("generated rights matrix", () => {
  test("every operation of the generated document, as anonymous, a camera-scoped user and another site's API key", async () => {
    const doc = JSON.parse((await call("GET", "/api/v1/openapi.json")).text) as { paths: Record<string, Record<string, Op>> };
    const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ p, m: m.toUpperCase(), op })));
    // The document is generated from the routes: the ones the review found missing are there.
    for (const p of ["/api/v1/live", "/api/v1/retrievals", "/api/v1/evidence-locks", "/api/v1/sites/{id}/policy", "/api/v1/firmware/campaigns", "/api/v1/sites/{id}/transfer", "/api/v1/sites/{id}/telemetry"]) expect(Object.keys(doc.paths)).toContain(p);
    expect(ops.length).toBeGreaterThan(70);
    const failures: string[] = [];
    const fail = (m: string, p: string, who: string, got: number, want: string) => failures.push(`${m} ${p} as ${who}: ${got}, expected ${want}`);
    let checked = 0;
    for (const { p, m, op } of ops) {
      const rule = op["x-outpost-rights"];
      if (!rule || !KNOWN.some((k) => k in rule)) {
        failures.push(`${m} ${p} has no rights rule the matrix knows (${JSON.stringify(rule)})`);
        continue;
      }
      const urls = targetsFor(p, rule);

      // Anonymous: only public routes answer.
      const anon = await call(m, urls[0]!, { body: m === "GET" || m === "DELETE" ? undefined : {} });
      if ("public" in rule) {
        if (anon.status === 401 || anon.status === 403 || anon.status >= 500) fail(m, p, "anonymous", anon.status, "a public answer");
      } else if (anon.status !== 401) fail(m, p, "anonymous", anon.status, "401");

      // Another site's API key is no session: only the API-key route takes it (checked below by content).
      if (!("public" in rule) && !("apiKey" in rule)) {
        const k = await call(m, urls[0]!, { key: keyA, body: m === "GET" || m === "DELETE" ? undefined : {} });
        if (k.status !== 401) fail(m, p, "site A's API key", k.status, "401");
      }

      // The camera-scoped user (one camera of site A).
      if ("public" in rule) continue;
      if ("apiKey" in rule) {
        const r = await call(m, urls[0]!, { token: camToken, body: {} });
        if (r.status !== 401) fail(m, p, "camera user (no key)", r.status, "401");
        continue;
      }
      if ("user" in rule) {
        if (p === "/api/v1/logout") continue; // would end the session the rest of the matrix uses
        const r = await call(m, urls[0]!, { token: camToken, body: m === "GET" || m === "DELETE" ? undefined : {} });
        if (r.status === 401 || r.status === 403 || r.status >= 500) fail(m, p, "camera user", r.status, "an answer for any signed-in user");
        if (rule.user === "filtered" && m === "GET") {
          if (r.status !== 200) fail(m, p, "camera user", r.status, "200 (filtered)");
          expectNothingForeign(`${m} ${p}`, r.text);
        }
        checked++;
        continue;
      }
      for (const url of urls) {
        const targetCamera = url.includes(`${A}.cam2`) ? `${A}.cam2` : `${B}.cam1`;
        const bodyCams = typeof rule.camera === "string" && rule.camera.startsWith("body.") ? [`${A}.cam2`, `${B}.cam1`] : [targetCamera];
        for (const bc of bodyCams) {
          const r = await call(m, url, { token: camToken, body: m === "GET" || m === "DELETE" ? undefined : bodyFor(rule, bc) });
          checked++;
          const ownSite = url.startsWith(`/api/v1/sites/${A}`);
          if (!("site" in rule || "camera" in rule || "resource" in rule)) {
            if (r.status !== 403) fail(m, url, "camera user", r.status, "403 (global or some-site right)");
          } else if (ownSite) {
            // Site A is visible through the user's camera: its site-wide data is not.
            if (rule.viaCamera) {
              if (r.status !== 200) fail(m, url, "camera user", r.status, "200 (own camera's site, filtered)");
              expectNothingForeign(`${m} ${url}`, r.text);
            } else if (r.status !== 403) fail(m, url, "camera user", r.status, "403 (needs a right on the whole site)");
          } else if (r.status !== 404) fail(m, url, "camera user", r.status, "404 (not visible)");
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(60);
  });
});

describe("the review's leaks, one by one", () => {
  test("evidence locks and their reasons are only listed for cameras the user sees", async () => {
    const all = await call("GET", "/api/v1/evidence-locks", { token: adminToken });
    expect(all.text).toContain(SECRET);
    const mine = await call("GET", "/api/v1/evidence-locks", { token: camToken });
    expect(mine.status).toBe(200);
    expect(mine.text).not.toContain(SECRET);
    expect(JSON.parse(mine.text).locks).toEqual([]);
    expect((await call("GET", `/api/v1/evidence-locks/${ids.lockB}`, { token: camToken })).status).toBe(404);
  });

  test("another site's policy and transfer state are not readable", async () => {
    expect((await call("GET", `/api/v1/sites/${B}/policy`, { token: camToken })).status).toBe(404);
    expect((await call("GET", `/api/v1/sites/${B}/transfer`, { token: camToken })).status).toBe(404);
    expect((await call("GET", `/api/v1/sites/${B}/policy`, { token: adminToken })).status).toBe(200);
  });

  test("/api/v1/live lists only watched cameras the user may see", async () => {
    const admin = JSON.parse((await call("GET", "/api/v1/live", { token: adminToken })).text) as { streams: { siteId: string }[]; liveBytesBySite: Record<string, number> };
    expect(admin.streams.some((s) => s.siteId === B)).toBe(true);
    const mine = await call("GET", "/api/v1/live", { token: camToken });
    expect(JSON.parse(mine.text).streams).toEqual([]);
    expect(mine.text).not.toContain(B);
  });

  test("a camera-scoped user sees neither the site's other cameras nor its telemetry", async () => {
    const s = JSON.parse((await call("GET", `/api/v1/sites/${A}`, { token: camToken })).text) as { id: string; cameras: string[]; config?: unknown; health?: unknown };
    expect(s.id).toBe(A);
    expect(s.cameras).toEqual([`${A}.cam1`]);
    expect(s.config).toBeUndefined();
    expect(s.health).toBeUndefined();
    const full = JSON.parse((await call("GET", `/api/v1/sites/${A}`, { token: adminToken })).text) as { cameras: string[] };
    expect(full.cameras.sort()).toEqual([`${A}.cam1`, `${A}.cam2`]);
    expect((await call("GET", `/api/v1/sites/${A}/telemetry?kind=log`, { token: camToken })).status).toBe(403);
    expect((await call("GET", `/api/v1/sites/${A}/telemetry?kind=log`, { token: adminToken })).status).toBe(200);
  });

  test("unauthenticated /health is liveness only; the detail needs admin-sites", async () => {
    const h = await call("GET", "/api/v1/health");
    expect(h.status).toBe(200);
    expect(Object.keys(JSON.parse(h.text)).sort()).toEqual(["status", "time"]);
    for (const s of [A, B]) expect(h.text).not.toContain(s);
    expect((await call("GET", "/api/v1/health/detail", { token: camToken })).status).toBe(403);
    const d = await call("GET", "/api/v1/health/detail", { token: adminToken });
    expect(JSON.parse(d.text).certificates.some((c: { serial?: string }) => !!c.serial)).toBe(true);
  });

  test("a site-scoped API key cannot raise events (and so alarms) on another site's cameras", async () => {
    const before = (await json<{ alarms: { siteId: string }[] }>("GET", "/api/v1/alarms")).alarms.length;
    const foreign = await call("POST", "/api/v1/events", { key: keyA, body: { type: "test.intrusion", cameraId: `${B}.cam1` } });
    expect(foreign.status).toBe(403);
    expect((await call("POST", "/api/v1/events", { key: keyA, body: { type: "test.intrusion", siteId: B } })).status).toBe(403);
    const own = await call("POST", "/api/v1/events", { key: keyA, body: { type: "test.intrusion", cameraId: `${A}.cam1` } });
    expect(own.status).toBe(202);
    // The own-camera event raises its alarm; the refused one never does.
    const alarms = await until("the own-site alarm", async () => {
      const a = (await json<{ alarms: { siteId: string; cameraId: string }[] }>("GET", "/api/v1/alarms")).alarms;
      return a.length > before ? a : undefined;
    });
    expect(alarms.length).toBe(before + 1);
    expect(alarms.filter((a) => a.cameraId === `${B}.cam1`).length).toBe(1);
  });

  test("a user capped at request priority gets no alarm-priority retrieval through an evidence lock", async () => {
    const now = Date.now();
    const r = await call("POST", "/api/v1/evidence-locks", { token: camToken, body: { cameraId: `${A}.cam1`, from: new Date(now - 60_000).toISOString(), to: new Date(now).toISOString(), reason: "mine" } });
    expect(r.status).toBe(201);
    const lock = JSON.parse(r.text) as { retrieval: { id: string } };
    const ret = await json<{ priority: string }>("GET", `/api/v1/retrievals/${lock.retrieval.id}`);
    expect(ret.priority).toBe("request");
    // Asking for alarm priority directly is refused, as before.
    const direct = await call("POST", "/api/v1/retrievals", { token: camToken, body: { cameraId: `${A}.cam1`, from: new Date(now - 60_000).toISOString(), to: new Date(now).toISOString(), priority: "alarm" } });
    expect(direct.status).toBe(403);
  });
});
