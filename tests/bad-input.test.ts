/**
 * Bad input end to end:
 *  - corrupt config files → `outpost edge --config F` exits non-zero naming the key, and the
 *    data directory (an existing store) is left exactly as it was;
 *  - the served API answers unknown camera / inverted window / malformed JSON / no session
 *    with application/problem+json and a sentence;
 *  - an unreachable camera and a wrong-password camera in the config: the edge runs, their
 *    status says why, and the good camera records.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { ApiClient, OUTPOST, gstProcesses, hashPassword, isoOf, pgrepGst, removeTempDirs, run, tempDir, until, closeRig } from "./helpers.ts";

let sim: Camsim;
let edge: Edge | undefined;
let api: ApiClient;
const sink = new MemorySink();
const log = new Logger({ component: "test", sink });

beforeAll(async () => {
  sim = await startCamsim({ cameras: 1, main: { width: 640, height: 360, fps: 15, bitrateKbps: 400 }, sub: { width: 320, height: 180, fps: 15, bitrateKbps: 120 }, discoveryPort: null, log });
}, 30_000);

afterAll(async () => {
  await closeRig(edge, sim);
}, 30_000);

/** path → size and mtime of every file under dir (and the directories themselves). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const s = statSync(p);
      out[relative(dir, p)] = `${s.isDirectory() ? "dir" : s.size}@${s.mtimeMs}`;
      if (s.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

test("corrupt config → `outpost edge` exits non-zero naming the key; the data directory is not touched", async () => {
  const d = await tempDir("badcfg");
  const data = join(d, "data");
  // An existing store with a file and an index, as a previous run left it.
  await mkdir(join(data, "media", "cam1", "main", "2026-01-01"), { recursive: true });
  await writeFile(join(data, "media", "cam1", "main", "2026-01-01", "1767225600000.mp4"), "not really a segment");
  await writeFile(join(data, "CLEAN"), "2026-01-01T00:00:00.000Z\n");
  const fresh = join(d, "fresh"); // a dataDir that does not exist must not be created
  const cam = `cameras:\n  - id: cam1\n    rtsp: { main: ${sim.camera("cam1").rtspMain} }\n`;
  const cases: { name: string; text: string; dataDir: string; expect: RegExp[] }[] = [
    { name: "bad-value.yaml", text: `dataDir: ${data}\nstorage: { segmentDurationMs: "two seconds" }\n${cam}`, dataDir: data, expect: [/storage\.segmentDurationMs/] },
    { name: "bad-url.yaml", text: `dataDir: ${data}\ncameras:\n  - id: cam1\n    rtsp: { main: http://example/stream }\n`, dataDir: data, expect: [/cameras\.0\.rtsp\.main/, /rtsp:\/\//] },
    { name: "unknown-key.yaml", text: `dataDir: ${data}\nstorgae: { maxTotalBytes: 10 }\n${cam}`, dataDir: data, expect: [/storgae/] },
    { name: "plain-password.yaml", text: `dataDir: ${fresh}\nadmin: { passwordHash: hunter2 }\n${cam}`, dataDir: fresh, expect: [/admin\.passwordHash/, /argon2id/] },
    { name: "syntax.yaml", text: `dataDir: ${data}\ncameras: [ { id: cam1, rtsp: { main: x }\n`, dataDir: data, expect: [/syntax\.yaml/] },
    { name: "dup.json", text: JSON.stringify({ dataDir: fresh, cameras: [{ id: "a", rtsp: { main: "rtsp://127.0.0.1/a" } }, { id: "a", rtsp: { main: "rtsp://127.0.0.1/b" } }] }), dataDir: fresh, expect: [/cameras\.1\.id/, /duplicate/] },
  ];
  const before = tree(data);
  for (const c of cases) {
    const f = join(d, c.name);
    await writeFile(f, c.text);
    const r = await run(["bun", OUTPOST, "edge", "--config", f], { timeoutMs: 20_000 });
    expect({ file: c.name, failed: r.code !== 0 && r.code !== null }).toEqual({ file: c.name, failed: true });
    for (const re of c.expect) expect({ file: c.name, stderr: r.stderr }).toEqual({ file: c.name, stderr: expect.stringMatching(re) });
    expect(tree(data)).toEqual(before);
    expect(() => statSync(fresh)).toThrow();
  }
  // No config at all is a usage error too.
  const none = await run(["bun", OUTPOST, "edge"]);
  expect(none.code).not.toBe(0);
  expect(none.stderr).toContain("--config");
}, 90_000);

test("unreachable camera and wrong-password camera: the edge runs, their status says why, the good camera records", async () => {
  const d = await tempDir("badcams");
  const c = sim.camera("cam1");
  edge = await startEdge(
    {
      dataDir: d,
      api: { port: 0, plainHttp: true }, // not a TLS test
      admin: { passwordHash: await hashPassword("bad-input-pw") },
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      ingest: { stallTimeoutMs: 2000, connectTimeoutMs: 3000, backoffInitialMs: 200, backoffMaxMs: 2000, staggerMs: 300 },
      cameras: [
        { id: "good", rtsp: { main: c.rtspMain, sub: c.rtspSub }, user: sim.user, password: sim.password },
        { id: "unreachable", rtsp: { main: "rtsp://127.0.0.1:1/nothing" }, streams: ["main"] },
        { id: "wrongpw", rtsp: { main: c.rtspSub }, user: sim.user, password: "not-the-password", streams: ["main"] },
        { id: "onvif-wrongpw", onvif: { address: c.onvifUrl }, user: sim.user, password: "not-the-password" },
      ],
    },
    { log },
  );
  api = await ApiClient.login(edge.url!, "admin", "bad-input-pw");
  type Cams = { cameras: { id: string; streams: { stream: string; status: string; reason?: string }[] }[] };
  const byId = async () => Object.fromEntries((await api.json<Cams>("/cameras")).cameras.map((x) => [x.id, x]));
  const cams = await until(
    "statuses settled",
    async () => {
      const m = await byId();
      const ok = m.good?.streams.length === 2 && m.good.streams.every((s) => s.status === "recording");
      const un = m.unreachable?.streams[0];
      const wp = m.wrongpw?.streams[0];
      const ow = m["onvif-wrongpw"]?.streams[0];
      return ok && un?.reason && wp?.reason && ow?.reason ? m : null;
    },
    30_000,
    200,
  );
  expect(cams.unreachable!.streams[0]!.status).toBe("failed");
  expect(cams.unreachable!.streams[0]!.reason).toMatch(/^camera-offline/);
  expect(cams.wrongpw!.streams[0]!.status).toBe("failed");
  expect(cams.wrongpw!.streams[0]!.reason).toMatch(/^auth-failed/);
  expect(cams["onvif-wrongpw"]!.streams[0]!.status).toBe("failed");
  expect(cams["onvif-wrongpw"]!.streams[0]!.reason).toMatch(/^auth-failed/);
  // The good camera records on, and nothing was recorded for the others.
  const t = Date.now();
  await until("good camera has committed segments", async () => (await edge!.store.segments({ cameraId: "good", stream: "main", fromMs: t - 60_000, toMs: Date.now() })).filter((s) => !s.open).length >= 2, 20_000);
  expect((await edge.store.cameras()).map((x) => x.cameraId).sort()).toEqual(["good", "good"]);
  const health = await api.json<{ streams: { cameraId: string; state: string; reason?: string }[] }>("/health");
  expect(health.streams.find((s) => s.cameraId === "wrongpw")?.reason).toBe("auth-failed");
}, 60_000);

test("the served API answers bad requests with problem+json", async () => {
  expect(edge?.url).toBeTruthy();
  const now = Date.now();
  const win = `from=${isoOf(now - 30_000)}&to=${isoOf(now)}`;
  const problem = async (r: Response, status: number, detail: RegExp) => {
    const body = (await r.json()) as { type: string; title: string; status: number; detail: string };
    expect({ status: r.status, ct: r.headers.get("content-type") }).toEqual({ status, ct: expect.stringContaining("application/problem+json") });
    expect(body.status).toBe(status);
    expect(body.title).toBeTruthy();
    expect(body.detail).toMatch(detail);
    return body;
  };
  // No session.
  await problem(await fetch(`${edge!.url}/api/v1/cameras`), 401, /./);
  await problem(await fetch(`${edge!.url}/api/v1/cameras/good/timeline?${win}`), 401, /./);
  await problem(await fetch(`${edge!.url}/api/v1/exports`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), 401, /./);
  // Wrong password.
  await problem(await fetch(`${edge!.url}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: "nope" }) }), 401, /./);
  // Unknown camera.
  await problem(await api.fetch(`/cameras/nosuchcam`), 404, /nosuchcam/);
  await problem(await api.fetch(`/cameras/nosuchcam/timeline?${win}`), 404, /nosuchcam/);
  await problem(await api.fetch(`/cameras/nosuchcam/video?${win}`), 404, /nosuchcam/);
  await problem(await api.post("/exports", { cameraId: "nosuchcam", from: isoOf(now - 10_000), to: isoOf(now) }), 404, /nosuchcam/);
  // Inverted window, missing window, no timezone.
  await problem(await api.fetch(`/cameras/good/timeline?from=${isoOf(now)}&to=${isoOf(now - 10_000)}`), 400, /./);
  await problem(await api.fetch(`/cameras/good/video?from=${isoOf(now)}&to=${isoOf(now - 10_000)}`), 400, /./);
  await problem(await api.post("/exports", { cameraId: "good", from: isoOf(now), to: isoOf(now - 10_000) }), 400, /./);
  await problem(await api.post("/evidence-locks", { cameraId: "good", from: isoOf(now), to: isoOf(now - 10_000), reason: "x" }), 400, /./);
  await problem(await api.fetch(`/cameras/good/timeline`), 400, /./);
  await problem(await api.fetch(`/cameras/good/timeline?from=2026-01-01T00:00:00&to=2026-01-01T01:00:00`), 400, /./);
  await problem(await api.fetch(`/cameras/good/video?from=${isoOf(now - 2 * 86_400_000)}&to=${isoOf(now)}`), 400, /./);
  // Malformed JSON and missing fields.
  for (const path of ["/exports", "/evidence-locks"]) {
    await problem(await api.fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{ not json" }), 400, /JSON/i);
    await problem(await api.post(path, { cameraId: "good" }), 400, /./);
  }
  // A window without recording on a known camera.
  await problem(await api.fetch(`/cameras/unreachable/video?${win}`), 404, /no recording/i);
  // Nothing recorded was touched by any of this.
  expect((await edge!.store.locks()).length).toBe(0);
}, 30_000);
