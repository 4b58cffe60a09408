/**
 * Hostile input against the real edge app (createEdgeApi + the events route, as edge/main.ts
 * mounts them) over a real store: no query value on a GET route with numeric or time
 * parameters answers 500, a bad one is a 400 problem+json naming the parameter, and a control
 * character in a body field (an evidence-lock reason) is refused naming the field.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { hashPassword, requireSession } from "../../lib/auth/index.ts";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { feedClip, makeClip } from "../../lib/playback/testkit.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { startEdgeEvents, type EdgeEvents } from "../events/index.ts";
import { createEdgeApi } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "edge-query-"));
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const clock = new ManualClock(T0);
const log = new Logger({ component: "test", sink: new MemorySink() });
let store: MediaStore;
let events: EdgeEvents;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let token: string;

beforeAll(async () => {
  const clip = join(dir, "clip.mp4");
  await makeClip(clip, { seconds: 4 });
  store = await MediaStore.open({ root: join(dir, "store"), clock, log, segmentDurationMs: 2000, minFreeBytes: 0 });
  await feedClip(store.writer("cam1", "main"), clip, T0, (t) => clock.set(t));
  const api = createEdgeApi({
    store,
    cameras: () => [{ id: "cam1", name: "Front door", streams: [{ stream: "main", status: "recording", sinceMs: T0 }] }],
    config: { admin: { user: "admin", passwordHash: await hashPassword("pw") }, warmRecentMs: 0 },
    log,
    clock,
    dataDir: dir,
    health: () => ({}),
  });
  events = await startEdgeEvents({ dataDir: join(dir, "events"), clock, log, uplink: () => undefined, cameras: () => [], pollMs: 60_000 });
  events.mount(api.app, requireSession(api.sessions) as never);
  await events.emit({ kind: "input", cameraId: "cam1" });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: api.fetch });
  base = `http://127.0.0.1:${server.port}/api/v1`;
  const res = await fetch(`${base}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: "pw" }) });
  token = ((await res.json()) as { token: string }).token;
}, 60_000);

afterAll(async () => {
  server?.stop(true);
  await events?.stop();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = () => ({ authorization: `Bearer ${token}` });

describe("hostile input at the edge API", () => {
  test("a NUL in an evidence-lock reason is a 400 problem+json naming the field; nothing is stored", async () => {
    const res = await fetch(`${base}/evidence-locks`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body: JSON.stringify({ cameraId: "cam1", from: new Date(T0).toISOString(), to: new Date(T0 + 2000).toISOString(), reason: "case\u00007" }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    const p = (await res.json()) as { detail: string; errors: { path: string }[] };
    expect(p.detail).toStartWith("reason: contains the control character U+0000");
    expect(p.errors[0]!.path).toBe("reason");
    expect(await store.locks("cam1")).toEqual([]);
  });

  test("property: hostile values in every GET route with numeric or time parameters never answer 500", async () => {
    const routes: [string, string[]][] = [
      ["/cameras/cam1/timeline", ["from", "to"]],
      ["/cameras/cam1/video", ["from", "to"]],
      ["/cameras/cam1/video.m3u8", ["from", "to"]],
      ["/events", ["limit", "from", "to"]],
    ];
    const value = fc.oneof(
      fc.constantFrom("99999999999999999999", "-99999999999999999999", "9223372036854775808", "-1", "0", "1e3", "0x10", " 5", "", "NaN", "2026-01-01T12:00:00Z", "2026-01-01T12:00:03Z", "+275760-09-13T00:00:00Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "2026-01-01T12:00:00+99:99", "1\u0000", "\u0085"),
      fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
      fc.double().map(String),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string({ unit: "binary", maxLength: 12 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: routes.length - 1 }), fc.array(value, { minLength: 1, maxLength: 3 }), async (ri, vals) => {
        const [path, params] = routes[ri]!;
        const q = params.map((p, i) => (vals[i] === undefined ? "" : `${p}=${encodeURIComponent(vals[i]!)}`)).filter(Boolean).join("&");
        const res = await fetch(`${base}${path}?${q}`, { headers: auth() });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`GET ${path}?${q} answered ${res.status}: ${text}`);
        if (res.status === 400) {
          expect(res.headers.get("content-type")).toContain("application/problem+json");
          const detail = (JSON.parse(text) as { detail: string }).detail;
          expect([...params, "window"].some((p) => detail.includes(p))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
