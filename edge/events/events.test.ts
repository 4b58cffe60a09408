import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile, appendFile, readdir } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { ManualClock, systemClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { onProblem } from "../../lib/http/problem.ts";
import { startCamsim, type Camsim } from "../../camsim/index.ts";
import type { Uplink } from "../uplink/index.ts";
import { everyPeriod, sharedTimers } from "../ingest/shared-timer.ts";
import { CameraStateWatcher, DiskWatcher, EventLog, OnvifEventListener, UplinkLogSink, mapNotification, notifications, startEdgeEvents, type ObservedEvent } from "./index.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "outpost-events-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const rec = (i: number, atMs: number, cameraId = "cam1") => ({ id: `e${i}`, kind: "motion", cameraId, atMs, data: { i } });

describe("EventLog", () => {
  test("appends, queries a window oldest first, rotates by size and keeps the newest files", async () => {
    const dir = join(root, "log1");
    const log = await EventLog.open({ dir, maxBytes: 400, files: 3 });
    for (let i = 0; i < 40; i++) await log.append(rec(i, 1000 + i));
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(["events.1.jsonl", "events.2.jsonl", "events.jsonl"]);
    const all = await log.query();
    // Older files were dropped: what is left is the newest run, contiguous and in order.
    expect(all.length).toBeGreaterThan(5);
    expect(all.length).toBeLessThan(40);
    expect(all.at(-1)!.id).toBe("e39");
    expect(all.map((r) => r.atMs)).toEqual([...all.map((r) => r.atMs)].sort((a, b) => a - b));
    const win = await log.query({ fromMs: 1035, toMs: 1038 });
    expect(win.map((r) => r.id)).toEqual(["e35", "e36", "e37"]);
    expect((await log.query({ limit: 2 })).map((r) => r.id)).toEqual(["e38", "e39"]);
    expect(await log.query({ cameraId: "other" })).toEqual([]);
  });

  test("a torn last line (crash mid-write) is skipped and appending goes on", async () => {
    const dir = join(root, "log2");
    const log = await EventLog.open({ dir });
    await log.append(rec(1, 1));
    await appendFile(join(dir, "events.jsonl"), '{"id":"torn","kind":"mot');
    const again = await EventLog.open({ dir });
    await again.append(rec(2, 2));
    expect((await again.query()).map((r) => r.id)).toEqual(["e1", "e2"]);
    await writeFile(join(dir, "events.jsonl"), JSON.stringify(rec(1, 1)) + "\n" + '{"id":"torn"\n' + JSON.stringify(rec(3, 3)) + "\n");
    expect((await again.query()).map((r) => r.id)).toEqual(["e1", "e3"]);
  });

  test("a bad size is refused", async () => {
    await expect(EventLog.open({ dir: join(root, "log3"), maxBytes: 0 })).rejects.toThrow(/maxBytes must be positive/);
  });
});

describe("CameraStateWatcher", () => {
  const cam = (state: string, reason?: string) => ({ id: "c1", enabled: true, streams: [{ state, ...(reason ? { reason } : {}) }] });

  test("one event per held transition, stamped with the time it was first seen; flapping is silent", () => {
    const clock = new ManualClock(1_000_000);
    const out: { cameraId: string; e: ObservedEvent }[] = [];
    const w = new CameraStateWatcher({ clock, holdMs: 5000, emit: (cameraId, e) => out.push({ cameraId, e }) });
    const step = (state: string, reason?: string, ms = 1000) => {
      w.tick([cam(state, reason)]);
      clock.advance(ms);
    };
    for (let i = 0; i < 8; i++) step("recording");
    expect(out).toEqual([]); // coming up at start is not news
    // flapping faster than holdMs: nothing
    for (let i = 0; i < 6; i++) {
      step("backoff", "camera-offline", 2000);
      step("recording", undefined, 2000);
    }
    expect(out).toEqual([]);
    const downAt = clock.now();
    for (let i = 0; i < 10; i++) step("backoff", "camera-offline");
    step("stalled", "stall"); // still offline: no second event
    expect(out).toEqual([{ cameraId: "c1", e: { kind: "camera.offline", atMs: downAt, data: { reason: "camera-offline" } } }]);
    const upAt = clock.now();
    for (let i = 0; i < 7; i++) step("recording");
    expect(out.length).toBe(2);
    expect(out[1]!.e).toEqual({ kind: "camera.online", atMs: upAt, data: {} });
  });

  test("a camera down at start is reported with its reason; a disabled camera never", () => {
    const clock = new ManualClock(0);
    const out: ObservedEvent[] = [];
    const w = new CameraStateWatcher({ clock, holdMs: 3000, emit: (_, e) => out.push(e) });
    for (let i = 0; i < 5; i++) {
      w.tick([
        { id: "a", enabled: true, streams: [], error: { code: "auth-failed", message: "refused" } },
        { id: "b", enabled: false, streams: [{ state: "stopped" }] },
      ]);
      clock.advance(1000);
    }
    expect(out).toEqual([{ kind: "camera.offline", atMs: 0, data: { reason: "auth-failed", detail: "refused" } }]);
  });
});

test("DiskWatcher: full and ok once each, debounced", () => {
  const clock = new ManualClock(0);
  const out: ObservedEvent[] = [];
  const w = new DiskWatcher({ clock, holdMs: 2000, emit: (e) => out.push(e) });
  const tick = (full: boolean) => {
    w.tick({ full, freeBytes: full ? 1 : 100, totalBytes: 1000 });
    clock.advance(1000);
  };
  tick(false);
  tick(false);
  tick(false);
  tick(true);
  tick(false); // blip: nothing
  for (let i = 0; i < 4; i++) tick(true);
  for (let i = 0; i < 4; i++) tick(false);
  expect(out.map((e) => [e.kind, e.atMs])).toEqual([
    ["disk.full", 5000],
    ["disk.ok", 9000],
  ]);
});

test("notification mapping: motion start/end, digital input with token, other topics as onvif", () => {
  const res = {
    notificationMessage: [
      { topic: { _: "tns1:VideoSource/MotionAlarm" }, message: { message: { $: { UtcTime: "2026-01-01T00:00:00.000Z", PropertyOperation: "Changed" }, source: { simpleItem: { $: { Name: "Source", Value: "VideoSource_1" } } }, data: { simpleItem: { $: { Name: "State", Value: true } } } } } },
      { topic: { _: "tns1:Device/Trigger/DigitalInput" }, message: { message: { $: { PropertyOperation: "Changed" }, source: { simpleItem: { $: { Name: "InputToken", Value: "DigitalInput_1" } } }, data: { simpleItem: { $: { Name: "LogicalState", Value: "false" } } } } } },
      { topic: { _: "tns1:VideoSource/GlobalSceneChange/ImagingService" }, message: { message: { $: { PropertyOperation: "Changed" }, source: { simpleItem: [{ $: { Name: "Source", Value: "vs" } }] }, data: { simpleItem: [{ $: { Name: "State", Value: true } }] } } } },
      { message: {} },
    ],
  };
  const ns = notifications(res);
  expect(ns.length).toBe(3);
  expect(mapNotification(ns[0]!)).toEqual({ kind: "motion", data: { state: "start", active: true, topic: "tns1:VideoSource/MotionAlarm", source: "VideoSource_1" } });
  expect(mapNotification(ns[1]!)).toEqual({ kind: "input", data: { input: "DigitalInput_1", state: false, topic: "tns1:Device/Trigger/DigitalInput" } });
  expect(mapNotification(ns[2]!)).toEqual({ kind: "onvif", data: { topic: "tns1:VideoSource/GlobalSceneChange/ImagingService", operation: "Changed", source: { Source: "vs" }, items: { State: true } } });
  expect(notifications(undefined)).toEqual([]);
});

/** A stand-in uplink that records what reaches it (the real one is exercised end to end in tests/edge-events.test.ts). */
function fakeUplink(shared: (id?: string) => boolean = () => true) {
  const events: { eventId?: string; kind: string; cameraId?: string; atMs?: number; data?: Record<string, unknown> }[] = [];
  const logs: Record<string, unknown>[] = [];
  const u = {
    event: async (e: (typeof events)[number]) => {
      if (!shared(e.cameraId)) return false;
      events.push(e);
      return true;
    },
    logForwarder: (level = "warn") => ({
      write: (r: { level: string; [k: string]: unknown }) => {
        if (r.level === "error" || (r.level === "warn" && level === "warn")) logs.push(r);
      },
    }),
  };
  return { uplink: u as unknown as Uplink, events, logs };
}

test("UplinkLogSink: holds records until attached, forwards warnings and errors only, already redacted", () => {
  const sink = new UplinkLogSink();
  const log = new Logger({ component: "edge", sink: new MemorySink() }).tee(sink);
  log.warn("early warning", { camera: "cam1" });
  const f = fakeUplink();
  sink.attach(() => f.uplink);
  log.child({ component: "ingest" }).error("pipeline died", { url: "rtsp://admin:hunter2@10.0.0.5/main", password: "hunter2" });
  log.info("not forwarded");
  log.debug("not forwarded");
  expect(f.logs.map((r) => r.msg)).toEqual(["early warning", "pipeline died"]);
  expect(f.logs[0]).toMatchObject({ level: "warn", component: "edge", camera: "cam1" });
  expect(JSON.stringify(f.logs)).not.toContain("hunter2");
  expect(f.logs[1]!.fields).toMatchObject({ url: "rtsp://admin:***@10.0.0.5/main", password: "[redacted]" });
  sink.detach();
  log.warn("after detach");
  expect(f.logs.length).toBe(2);
});

describe("startEdgeEvents", () => {
  test("the camera-state poll runs on the timer the streams' stall watchdogs share: one wake-up per period for both", async () => {
    const stopWatchdog = everyPeriod(45_000, () => undefined); // a stream's watchdog of that period
    const before = sharedTimers();
    const ev = await startEdgeEvents({ dataDir: join(root, "edge-shared"), clock: new ManualClock(Date.UTC(2026, 0, 1)), log: new Logger({ component: "edge.events", sink: new MemorySink() }), uplink: () => undefined, cameras: () => [], pollMs: 45_000 });
    try {
      expect(sharedTimers()).toBe(before); // joined the watchdogs' timer, started none of its own
    } finally {
      await ev.stop();
      stopWatchdog();
    }
    expect(sharedTimers()).toBe(before - 1); // and stopping both stopped it
  });

  test("ids, order, local log, uplink hand-off, and the HTTP route with its errors", async () => {
    const f = fakeUplink((id) => id !== "secret");
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const ev = await startEdgeEvents({ dataDir: join(root, "edge1"), clock, log: new Logger({ component: "edge.events", sink: new MemorySink() }), uplink: () => f.uplink, cameras: () => [], pollMs: 60_000 });
    try {
      const got = [];
      for (let i = 0; i < 20; i++) {
        got.push(ev.emit({ kind: "input", cameraId: i % 5 === 0 ? "secret" : "cam1", data: { i } }));
        clock.advance(10);
      }
      const recs = await Promise.all(got);
      expect(new Set(recs.map((r) => r.id)).size).toBe(20);
      // Unshared camera: kept locally, never handed on.
      expect(f.events.map((e) => (e.data as { i: number }).i)).toEqual(recs.filter((r) => r.cameraId !== "secret").map((r) => (r.data as { i: number }).i));
      expect(f.events.every((e, k) => k === 0 || e.atMs! > f.events[k - 1]!.atMs!)).toBe(true);
      expect(f.events[0]!.eventId).toBe(recs[1]!.id);

      const app = new Hono();
      app.onError(onProblem(new Logger({ component: "t", sink: new MemorySink() })));
      ev.mount(app, async (_c, next) => next());
      const base = Date.UTC(2026, 0, 1);
      const r = await app.request(`/api/v1/events?from=${new Date(base + 50).toISOString()}&to=${new Date(base + 100).toISOString()}`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { events: { id: string; type: string; cameraId: string; time: string; data: { i: number } }[] };
      expect(body.events.map((e) => e.data.i)).toEqual([5, 6, 7, 8, 9]);
      expect(body.events[0]).toMatchObject({ type: "input", cameraId: "secret", time: new Date(base + 50).toISOString() });
      const bad = await app.request("/api/v1/events?from=yesterday");
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { detail: string }).detail).toMatch(/from must be an ISO 8601 time/);
      expect((await app.request(`/api/v1/events?from=${new Date(base + 100).toISOString()}&to=${new Date(base).toISOString()}`)).status).toBe(400);
      expect((await app.request("/api/v1/events?limit=0")).status).toBe(400);
    } finally {
      await ev.stop();
    }
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("OnvifEventListener against camsim", () => {
  let sim: Camsim | undefined;
  afterAll(async () => {
    await sim?.close();
  });

  test("motion and input through a PullPoint; a camera restart (new device, subscriptions gone) is resubscribed", async () => {
    const port = await freePort();
    const log = new Logger({ component: "test", sink: new MemorySink() });
    const opts = { cameras: 1, onvifBasePort: port, discoveryPort: null, maxPullWaitMs: 1000, main: { width: 320, height: 180, bitrateKbps: 200 }, sub: { width: 160, height: 90, bitrateKbps: 100 }, log };
    sim = await startCamsim(opts);
    const got: ObservedEvent[] = [];
    const sink = new MemorySink();
    const l = new OnvifEventListener(
      { cameraId: "cam1", address: `127.0.0.1:${port}`, user: sim.user, password: sim.password },
      { clock: systemClock, log: new Logger({ component: "edge.events", sink }), emit: (e) => got.push(e), backoff: { minMs: 200, maxMs: 1000 }, renewMs: 500 },
    );
    const until = async (what: () => boolean, ms = 10_000) => {
      const end = Date.now() + ms;
      while (!what()) {
        if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(got)}; log ${JSON.stringify(sink.records.slice(-5))}`);
        await Bun.sleep(50);
      }
    };
    l.start();
    try {
      await until(() => l.subscriptions === 1);
      await Bun.sleep(300);
      expect(got).toEqual([]); // the Initialized state is not an event
      const before = Date.now();
      sim.emitEvent("cam1", { type: "motion", state: true });
      await until(() => got.length === 1);
      expect(got[0]!.kind).toBe("motion");
      expect(got[0]!.data).toMatchObject({ state: "start", active: true, source: "VideoSource_1" });
      expect(got[0]!.atMs).toBeGreaterThanOrEqual(before);
      sim.emitEvent("cam1", { type: "input", state: true });
      await until(() => got.length === 2);
      expect(got[1]).toMatchObject({ kind: "input", data: { input: "DigitalInput_1", state: true } });
      await Bun.sleep(1200); // several renews and empty long polls
      expect(l.subscriptions).toBe(1);

      // The camera restarts: its subscriptions are gone; motion ended meanwhile.
      await sim.close();
      sim = await startCamsim(opts);
      await until(() => l.subscriptions === 2, 15_000);
      // The new subscription's Initialized state (motion off, input off) differs from the last seen: reported.
      await until(() => got.length === 4);
      expect(got.slice(2).map((e) => [e.kind, e.data.state]).sort()).toEqual([
        ["input", false],
        ["motion", "end"],
      ]);
      sim.emitEvent("cam1", { type: "motion", state: true });
      await until(() => got.length === 5);
      expect(got[4]!.data.state).toBe("start");
    } finally {
      await l.stop();
    }
  }, 40_000);
});
