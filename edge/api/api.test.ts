import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "../../lib/auth/index.ts";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { countFrames, feedClip, ffprobeJson, makeClip } from "../../lib/playback/testkit.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { createEdgeApi, routeDrift, type EdgeApi } from "./index.ts";
import { routes } from "./openapi.ts";
import type { EdgeApiDeps, StoreView } from "./types.ts";

// Type-level check: the real store satisfies what the API asks for.
const _fits: (s: MediaStore) => StoreView = (s) => s;

const dir = mkdtempSync(join(tmpdir(), "edge-api-"));
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const clock = new ManualClock(T0);
const log = new Logger({ component: "test", sink: new MemorySink() });
let store: MediaStore;
let api: EdgeApi;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let token: string;
const iso = (ms: number) => new Date(ms).toISOString();

function deps(over: Partial<EdgeApiDeps> = {}, hash = ""): EdgeApiDeps {
  return {
    store,
    cameras: () => [{ id: "cam1", name: "Front door", streams: [{ stream: "main", status: "recording", sinceMs: T0 }, { stream: "sub", status: "failed", reason: "connection refused", sinceMs: T0 }] }],
    config: { admin: { user: "admin", passwordHash: hash } },
    log,
    clock,
    dataDir: dir,
    health: () => ({ disk: { freeBytes: 123 }, streams: 2 }),
    ...over,
  };
}

const auth = () => ({ authorization: `Bearer ${token}` });
const get = (path: string, headers: Record<string, string> = auth()) => fetch(`${base}${path}`, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = auth()) =>
  fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

async function expectProblem(res: Response, status: number, detail?: RegExp): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  const p = (await res.json()) as { status: number; title: string; detail: string };
  expect(p.status).toBe(status);
  expect(p.detail.length).toBeGreaterThan(10);
  if (detail) expect(p.detail).toMatch(detail);
}

beforeAll(async () => {
  const clip = join(dir, "clip.mp4");
  await makeClip(clip, { seconds: 6 });
  store = await MediaStore.open({ root: join(dir, "store"), clock, log, segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "main");
  // Session 1: 6 s at T0; camera offline 5 s; session 2: 6 s at T0+11 s, left open (still recording).
  await feedClip(w, clip, T0, (t) => clock.set(t));
  await w.end("camera-offline", "connection refused");
  clock.set(T0 + 11_000);
  await feedClip(w, clip, T0 + 11_000, (t) => clock.set(t));
  clock.set(T0 + 17_500);
  const hash = await hashPassword("correct horse");
  api = createEdgeApi(deps({}, hash));
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: api.fetch });
  base = `http://127.0.0.1:${server.port}/api/v1`;
  const res = await post("/login", { user: "admin", password: "correct horse" }, {});
  expect(res.status).toBe(200);
  token = ((await res.json()) as { token: string }).token;
}, 30_000);

afterAll(async () => {
  server?.stop(true);
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("auth", () => {
  test("openapi and liveness are open; everything else needs a session", async () => {
    const doc = (await (await get("/openapi.json", {})).json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/cameras/{id}/video"].get.parameters.map((p: any) => p.name)).toEqual(["id", "from", "to", "stream"]);
    expect(doc.paths["/exports"].post.requestBody.content["application/json"].schema.required).toEqual(["cameraId", "from", "to"]);
    const live = (await (await get("/health", {})).json()) as any;
    expect(live.status).toBe("ok");
    expect(live.disk).toBeUndefined();
    const full = (await (await get("/health")).json()) as any;
    expect(full.disk.freeBytes).toBe(123);
    await expectProblem(await get("/cameras", {}), 401, /Log in/);
    await expectProblem(await get("/cameras", { authorization: "Bearer nope" }), 401, /session/);
  });

  test("login: wrong password 401, right one gives a bearer token and an HttpOnly cookie that works", async () => {
    await expectProblem(await post("/login", { user: "admin", password: "wrong" }, {}), 401, /Wrong user name or password/);
    await expectProblem(await post("/login", { user: "admin" }, {}), 400, /password/);
    const res = await post("/login", { user: "admin", password: "correct horse" }, {});
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    const body = (await res.json()) as { expiresAt: string };
    expect(body.expiresAt).toBe(iso(clock.now() + 12 * 3_600_000));
    expect((await get("/cameras", { cookie: cookie.split(";")[0]! })).status).toBe(200);
  });

  test("throttling after repeated failures, sessions expire, no admin = no login", async () => {
    const c2 = new ManualClock(T0);
    const a2 = createEdgeApi(deps({ clock: c2, config: { admin: { user: "admin", passwordHash: await hashPassword("pw") }, loginThrottle: { maxFailures: 3, lockMs: 60_000 }, sessionTtlMs: 1000 } }));
    const s2 = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: a2.app.fetch });
    const url = `http://127.0.0.1:${s2.port}/api/v1/login`;
    const login = (password: string, user = "admin") => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user, password }) });
    try {
      for (let i = 0; i < 3; i++) expect((await login("bad")).status).toBe(401);
      const locked = await login("pw");
      await expectProblem(locked, 429, /try again in 60 s/);
      expect(locked.headers.get("retry-after")).toBe("60");
      c2.advance(61_000);
      const ok = await login("pw");
      expect(ok.status).toBe(200);
      const t = ((await ok.json()) as { token: string }).token;
      const cams = () => fetch(`http://127.0.0.1:${s2.port}/api/v1/cameras`, { headers: { authorization: `Bearer ${t}` } });
      expect((await cams()).status).toBe(200);
      c2.advance(1001);
      await expectProblem(await cams(), 401, /expired/);
    } finally {
      s2.stop(true);
    }
    const a3 = createEdgeApi(deps({ config: {} }));
    const r = await a3.app.request("/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: "x" }) });
    await expectProblem(r, 503, /No local admin/);
  });

  test("parallel wrong logins: only maxFailures are checked; idle sessions end; cross-site state changes are refused", async () => {
    const c2 = new ManualClock(T0);
    const a2 = createEdgeApi(deps({ clock: c2, config: { admin: { user: "admin", passwordHash: await hashPassword("pw") }, loginThrottle: { maxFailures: 3 }, sessionIdleMs: 60_000 } }));
    const s2 = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: a2.app.fetch });
    const base = `http://127.0.0.1:${s2.port}/api/v1`;
    const login = (password: string, user = "admin") => fetch(base + "/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user, password }) });
    try {
      const rs = await Promise.all(Array.from({ length: 10 }, () => login("bad")));
      expect(rs.filter((r) => r.status === 401).length).toBe(3);
      expect(rs.filter((r) => r.status === 429).length).toBe(7);
      c2.advance(5 * 60_000 + 1);
      const ok = await login("pw");
      expect(ok.status).toBe(200);
      const t = ((await ok.json()) as { token: string }).token;
      const cookie = `outpost_session=${t}`;
      // a page on another port posting with the admin's cookie: refused, session still valid
      const forged = await fetch(base + "/logout", { method: "POST", headers: { cookie, origin: "http://127.0.0.1:1" } });
      await expectProblem(forged, 403, /may not act/);
      const own = new URL(base).origin;
      c2.advance(59_000);
      expect((await fetch(base + "/cameras", { headers: { cookie } })).status).toBe(200);
      c2.advance(60_000);
      await expectProblem(await fetch(base + "/cameras", { headers: { cookie } }), 401, /expired/);
      expect((await fetch(base + "/logout", { method: "POST", headers: { cookie, origin: own } })).status).toBe(401);
    } finally {
      s2.stop(true);
    }
  });
});

describe("cameras and timeline", () => {
  test("camera list and status with what is recorded", async () => {
    const { cameras } = (await (await get("/cameras")).json()) as any;
    expect(cameras.length).toBe(1);
    expect(cameras[0].streams[0]).toMatchObject({ stream: "main", status: "recording", since: iso(T0), recorded: { first: iso(T0) } });
    expect(cameras[0].streams[1]).toMatchObject({ stream: "sub", status: "failed", reason: "connection refused" });
    const one = (await (await get("/cameras/cam1")).json()) as any;
    expect(one.name).toBe("Front door");
    await expectProblem(await get("/cameras/nope"), 404, /no camera 'nope'/);
  });

  test("timeline: two ranges and a gap with its reason", async () => {
    const t = (await (await get(`/cameras/cam1/timeline?from=${iso(T0 - 60_000)}&to=${iso(T0 + 60_000)}`)).json()) as any;
    expect(t.ranges.length).toBe(2);
    expect(t.ranges[0].start).toBe(iso(T0));
    expect(t.gaps.some((g: any) => g.reason === "camera-offline" && g.detail === "connection refused")).toBe(true);
    expect(t.segments).toBeGreaterThanOrEqual(5);
  });
});

describe("video", () => {
  const win = `from=${iso(T0 + 1500)}&to=${iso(T0 + 15_000)}`;
  test("fMP4 over a window with 2+ segments and a gap plays without errors", async () => {
    const res = await get(`/cameras/cam1/video?${win}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(res.headers.get("x-outpost-start")).toBe(iso(T0 + 1000));
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.length).toBe(Number(res.headers.get("content-length")));
    const plan = await api.playback.plan({ cameraId: "cam1", fromMs: T0 + 1500, toMs: T0 + 15_000 });
    expect(new Set(plan.blocks.flatMap((b) => (b.kind === "frags" ? [b.segmentId] : []))).size).toBeGreaterThanOrEqual(4);
    const { frames, stderr } = await countFrames(`${base}/cameras/cam1/video?${win}`, ["-headers", `Authorization: Bearer ${token}\r\n`]);
    expect(stderr).toBe("");
    expect(frames).toBe(plan.frames);
    expect(frames).toBe(75 + 60); // 1 s … 6 s, then 11 s … 15 s
  });

  test("Range: first bytes, middle, suffix, 416", async () => {
    const whole = new Uint8Array(await (await get(`/cameras/cam1/video?${win}`)).arrayBuffer());
    const total = whole.length;
    for (const [h, a, b] of [["bytes=0-99", 0, 100], ["bytes=5000-70000", 5000, 70001], [`bytes=-500`, total - 500, total], [`bytes=${total - 10}-`, total - 10, total]] as const) {
      const r = await get(`/cameras/cam1/video?${win}`, { ...auth(), range: h });
      expect(r.status).toBe(206);
      expect(r.headers.get("content-range")).toBe(`bytes ${a}-${b - 1}/${total}`);
      expect(Number(r.headers.get("content-length"))).toBe(b - a);
      expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(whole.subarray(a, b)))).toBe(true);
    }
    const bad = await get(`/cameras/cam1/video?${win}`, { ...auth(), range: `bytes=${total}-` });
    expect(bad.headers.get("content-range")).toBe(`bytes */${total}`);
    await expectProblem(bad, 416);
  });

  test("large bodies stream (chunked) with the same bytes; HEAD gives the length", async () => {
    const whole = new Uint8Array(await (await get(`/cameras/cam1/video?${win}`)).arrayBuffer());
    const a2 = createEdgeApi(deps({ config: { admin: { user: "admin", passwordHash: "x" }, bufferBodiesUpTo: 0 } }));
    const t2 = a2.sessions.create("admin").token;
    const s2 = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: a2.app.fetch });
    try {
      const u = `http://127.0.0.1:${s2.port}/api/v1/cameras/cam1/video?${win}`;
      const full = await fetch(u, { headers: { authorization: `Bearer ${t2}` } });
      expect(Buffer.from(await full.arrayBuffer()).equals(Buffer.from(whole))).toBe(true);
      const part = await fetch(u, { headers: { authorization: `Bearer ${t2}`, range: "bytes=1000-" } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe(`bytes 1000-${whole.length - 1}/${whole.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(whole.subarray(1000)))).toBe(true);
      const head = await fetch(u, { method: "HEAD", headers: { authorization: `Bearer ${t2}` } });
      expect(head.status).toBe(200);
      expect(Number(head.headers.get("content-length"))).toBe(whole.length);
      // The whole body went out progressively (planned while sent): same origin and end as the exact plan.
      for (const h of ["x-outpost-start", "x-outpost-end", "cache-control"]) expect(full.headers.get(h)).toBe(head.headers.get(h));
    } finally {
      s2.stop(true);
    }
  });

  test("HLS playlist is read by ffprobe over HTTP and the frame count matches", async () => {
    const res = await get(`/cameras/cam1/video.m3u8?${win}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    const text = await res.text();
    expect(text).toContain("#EXT-X-VERSION:7");
    expect(text).toContain("#EXT-X-MAP:URI=");
    expect(text).toContain("#EXT-X-DISCONTINUITY");
    expect(text).toContain(`#EXT-X-PROGRAM-DATE-TIME:${iso(T0 + 1000)}`);
    expect(text).toContain("#EXT-X-ENDLIST");
    const { frames, stderr } = await countFrames(`${base}/cameras/cam1/video.m3u8?${win}`, ["-headers", `Authorization: Bearer ${token}\r\n`]);
    expect(stderr).toBe("");
    expect(frames).toBe(135);
  });

  test("snapshot: JPEG of the latest keyframe at the stream's size", async () => {
    const res = await get("/cameras/cam1/snapshot.jpg");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    const path = join(dir, "snap.jpg");
    await Bun.write(path, await res.arrayBuffer());
    const p = await ffprobeJson(path, ["-show_entries", "stream=codec_name,width,height"]);
    expect(p.json.streams[0]).toEqual({ codec_name: "mjpeg", width: 320, height: 240 });
    await expectProblem(await get("/cameras/cam1/snapshot.jpg?stream=sub"), 404, /no recording/);
  });
});

describe("exports and locks", () => {
  test("export job reaches 100 % and the MP4 is ffprobe-clean with duration = window ± 1 s", async () => {
    const res = await post("/exports", { cameraId: "cam1", from: iso(T0 + 1500), to: iso(T0 + 15_000) });
    expect(res.status).toBe(202);
    const job = (await res.json()) as any;
    expect(res.headers.get("location")).toBe(`/api/v1/exports/${job.id}`);
    let cur = job;
    for (let i = 0; i < 100 && cur.state !== "done" && cur.state !== "failed"; i++) {
      await Bun.sleep(50);
      cur = await (await get(`/exports/${job.id}`)).json();
    }
    expect(cur.error).toBeUndefined();
    expect(cur.state).toBe("done");
    expect(cur.progress).toBe(100);
    expect(cur.bytesDone).toBe(cur.bytesTotal);
    expect(cur.download).toBe(`/api/v1/exports/${job.id}/file`);
    const file = await fetch(`${base.replace("/api/v1", "")}${cur.download}`, { headers: auth() });
    expect(file.status).toBe(200);
    expect(file.headers.get("content-disposition")).toContain("attachment");
    const path = join(dir, "export.mp4");
    await Bun.write(path, await file.arrayBuffer());
    const p = await ffprobeJson(path, ["-show_entries", "format=duration"]);
    expect(p.stderr).toBe("");
    expect(Math.abs(Number(p.json.format.duration) - 13.5)).toBeLessThanOrEqual(1);
    expect((await countFrames(path)).stderr).toBe("");
    const list = (await (await get("/exports")).json()) as any;
    expect(list.exports[0].id).toBe(job.id);
    await expectProblem(await get("/exports/nope"), 404);
    await expectProblem(await get("/exports/nope/file"), 404);
  });

  test("evidence locks: create, list, get, delete", async () => {
    const res = await post("/evidence-locks", { cameraId: "cam1", from: iso(T0), to: iso(T0 + 5000), reason: "incident 42" });
    expect(res.status).toBe(201);
    const lock = (await res.json()) as any;
    expect(lock).toMatchObject({ cameraId: "cam1", from: iso(T0), to: iso(T0 + 5000), reason: "incident 42", createdBy: "admin" });
    expect(((await (await get("/evidence-locks?cameraId=cam1")).json()) as any).locks.map((l: any) => l.id)).toEqual([lock.id]);
    expect(((await (await get(`/evidence-locks/${lock.id}`)).json()) as any).reason).toBe("incident 42");
    expect((await fetch(`${base}/evidence-locks/${lock.id}`, { method: "DELETE", headers: auth() })).status).toBe(204);
    await expectProblem(await fetch(`${base}/evidence-locks/${lock.id}`, { method: "DELETE", headers: auth() }), 404);
    await expectProblem(await post("/evidence-locks", { cameraId: "cam1", from: iso(T0), to: iso(T0 + 5000), reason: "x", expiresAt: iso(T0 - 1) }), 400, /past/);
    // Operator mistakes (issue 13 item 6): a lock that would pin the camera forever, a long reason.
    await expectProblem(await post("/evidence-locks", { cameraId: "cam1", from: "1970-01-01T00:00:00Z", to: "9999-12-31T23:59:59Z", reason: "everything" }), 400, /lock window may be at most 7 days/);
    await expectProblem(await post("/evidence-locks", { cameraId: "cam1", from: iso(T0), to: iso(T0 + 5000), reason: "r".repeat(501) }), 400, /reason is too long: at most 500 characters/);
    expect((await post("/evidence-locks", { cameraId: "cam1", from: iso(T0), to: iso(T0 + 5000), reason: "r".repeat(500) })).status).toBe(201);
  });
});

describe("bad input gives problem+json with a sentence", () => {
  const v = "/cameras/cam1/video";
  test.each([
    ["unknown camera", `/cameras/ghost/video?from=${iso(T0)}&to=${iso(T0 + 1000)}`, 404, /no camera 'ghost'/],
    ["inverted window", `${v}?from=${iso(T0 + 1000)}&to=${iso(T0)}`, 400, /inverted/],
    ["oversized video window", `${v}?from=${iso(T0)}&to=${iso(T0 + 25 * 3_600_000)}`, 400, /25 h long.*at most 24 h/],
    ["oversized HLS window", `${v}.m3u8?from=${iso(T0)}&to=${iso(T0 + 25 * 3_600_000)}`, 400, /at most 24 h/],
    ["oversized timeline window", `/cameras/cam1/timeline?from=${iso(T0)}&to=${iso(T0 + 32 * 86_400_000)}`, 400, /32 days long.*31 days/],
    ["bad date", `${v}?from=yesterday&to=${iso(T0)}`, 400, /from must be an ISO 8601 time/],
    ["date without timezone", `${v}?from=2026-01-01T12:00:00&to=${iso(T0)}`, 400, /ISO 8601/],
    ["missing to", `${v}?from=${iso(T0)}`, 400, /'to' is required/],
    ["bad stream", `${v}?from=${iso(T0)}&to=${iso(T0 + 1000)}&stream=hd`, 400, /main' or 'sub/],
    ["window without recording", `${v}?from=${iso(T0 - 60_000)}&to=${iso(T0 - 1000)}`, 404, /no recording/],
    ["unknown endpoint", "/nothing-here", 404, /No such endpoint/],
  ])("%s", async (_name, path, status, detail) => {
    await expectProblem(await get(path), status, detail);
  });

  test("malformed JSON, missing fields, unknown camera and inverted window in POST bodies", async () => {
    await expectProblem(await post("/exports", "{not json"), 400, /Malformed JSON/);
    await expectProblem(await post("/exports", { from: iso(T0), to: iso(T0 + 1000) }), 400, /cameraId/);
    await expectProblem(await post("/exports", { cameraId: "ghost", from: iso(T0), to: iso(T0 + 1000) }), 404, /no camera/);
    await expectProblem(await post("/exports", { cameraId: "cam1", from: iso(T0 + 1000), to: iso(T0) }), 400, /inverted/);
    await expectProblem(await post("/exports", { cameraId: "cam1", from: iso(T0), to: iso(T0 + 48 * 3_600_000) }), 400, /at most 24 h/);
    await expectProblem(await post("/evidence-locks", "[1,"), 400, /Malformed JSON/);
    await expectProblem(await post("/login", "nope", {}), 400, /Malformed JSON/);
  });
});

describe("OpenAPI document ↔ served routes", () => {
  test("the document lists every route the API serves; only edge/live, edge/events, edge/transfer, edge/position and edge/vehicle add the others", () => {
    const d = routeDrift(api.app);
    expect(d.undocumented).toEqual([]);
    // Mounted by edge/main from edge/live, edge/events, edge/transfer, edge/position and edge/vehicle onto this app (checked there at startup).
    expect(d.unserved).toEqual(["GET /api/v1/cameras/{id}/live", "GET /api/v1/cameras/{id}/live.m3u8", "GET /api/v1/cameras/{id}/live/{file}", "GET /api/v1/events", "GET /api/v1/position", "GET /api/v1/transfers", "GET /api/v1/vehicle", "POST /api/v1/inputs"]);
  });

  test("a route added without a document entry is named", () => {
    const other = createEdgeApi(deps());
    other.app.get("/api/v1/debug/:what", (c) => c.json({}));
    expect(routeDrift(other.app).undocumented).toEqual(["GET /api/v1/debug/{what}"]);
  });

  test("every documented route needs a session unless the document says it is open", async () => {
    const open = new Set(routes.filter((r) => r.auth === false).map((r) => `${r.method} ${r.path}`));
    const d = routeDrift(api.app);
    for (const r of routes) {
      if (d.unserved.includes(`${r.method.toUpperCase()} /api/v1${r.path}`)) continue;
      const res = await fetch(`${base}${r.path.replace(/\{\w+\}/g, "x")}`, { method: r.method.toUpperCase(), ...(r.method === "post" ? { headers: { "content-type": "application/json" }, body: "{}" } : {}) });
      await res.arrayBuffer();
      if (open.has(`${r.method} ${r.path}`)) expect(res.status).not.toBe(401);
      else expect([r.path, res.status]).toEqual([r.path, 401]);
    }
  });
});
