/**
 * A host-clock step under a real edge (issue 13 item 2): camsim camera → native ingest → store,
 * with the host clock injected (system time + a step the test sets; monotonic time untouched,
 * as when NTP or an operator steps the clock). +1 h, then back: /health flags the clock as not
 * trusted and names the step, the hole is a "clock-step" gap, and once the clock is back the
 * footage filed an hour ahead is moved back — nothing is left in the future.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import type { Clock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { ApiClient, closeRig, hashPassword, isoOf, tempDir, until } from "./helpers.ts";

const HOUR = 3_600_000;
let step = 0;
const clock: Clock = { now: () => Date.now() + step, monotonic: () => performance.now() };
let sim: Camsim | undefined;
let edge: Edge | undefined;
const log = new Logger({ component: "test", sink: new MemorySink() });

beforeAll(async () => {
  const dir = await tempDir("clock-step");
  sim = await startCamsim({ cameras: 1, main: { width: 320, height: 180, fps: 15, bitrateKbps: 200 }, discoveryPort: null, log });
  edge = await startEdge(
    {
      dataDir: join(dir, "data"),
      api: { port: 0, plainHttp: true },
      admin: { passwordHash: await hashPassword("clock-pw") },
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      ingest: { stallTimeoutMs: 5000 },
      cameras: [{ id: "cam1", streams: ["main"], rtsp: { main: sim.camera("cam1").rtspMain }, user: sim.user, password: sim.password }],
    },
    { log, clock },
  );
}, 30_000);

afterAll(async () => {
  await closeRig(edge, sim);
}, 30_000);

test("+1 h host-clock step and back: clock not trusted in /health, clock-step gap, footage moved back out of the future", async () => {
  const e = edge!;
  const api = await ApiClient.login(e.url!, "admin", "clock-pw");
  await until("recording", () => e.ingest("cam1", "main")?.status().state === "recording", 30_000);
  const t0 = Date.now();
  await until("two segments", async () => ((await e.store.cameras())[0]?.segments ?? 0) >= 3, 20_000);
  type Health = { clock: { trusted: boolean; lastStep?: { stepMs: number } } };
  const before = (await api.json<Health>("/health")).clock;
  expect({ trusted: before.trusted, lastStep: before.lastStep }).toEqual({ trusted: true, lastStep: undefined });

  step = HOUR;
  await until("step seen", async () => (await api.json<Health>("/health")).clock.lastStep?.stepMs, 10_000);
  const h = await api.json<Health>("/health");
  expect({ trusted: h.clock.trusted }).toEqual({ trusted: false });
  expect(Math.abs(h.clock.lastStep!.stepMs - HOUR)).toBeLessThan(2000);
  await Bun.sleep(5000); // recording on the stepped clock
  const during = await api.json<{ gaps: { reason: string; start: string; end: string }[] }>(`/cameras/cam1/timeline?from=${isoOf(t0 - 60_000)}&to=${isoOf(t0 + 2 * HOUR)}`);
  expect(during.gaps.some((g) => g.reason === "clock-step" && Date.parse(g.end) - Date.parse(g.start) > HOUR - 10_000)).toBe(true);

  step = 0;
  await until("step back seen", async () => (await api.json<Health>("/health")).clock.lastStep?.stepMs! < 0, 10_000);
  await Bun.sleep(4000); // recording on the right clock again
  const now = Date.now();
  const segs = await e.store.segments({ cameraId: "cam1", stream: "main", fromMs: t0 - 60_000, toMs: t0 + 3 * HOUR });
  expect(segs.filter((s) => s.startMs > now + 2000).map((s) => s.path)).toEqual([]);
  for (let i = 1; i < segs.length; i++) expect(segs[i]!.startMs).toBeGreaterThanOrEqual(segs[i - 1]!.endMs);
  const after = await api.json<{ ranges: { start: string; end: string }[]; gaps: { reason: string; start: string; end: string }[] }>(
    `/cameras/cam1/timeline?from=${isoOf(t0 - 60_000)}&to=${isoOf(now + 1000)}`,
  );
  // No hole without a gap; the hour-long gap is gone (the footage is back where it belongs).
  for (let i = 1; i < after.ranges.length; i++) {
    const a = Date.parse(after.ranges[i - 1]!.end);
    const b = Date.parse(after.ranges[i]!.start);
    expect({ hole: [isoOf(a), isoOf(b)], explained: b - a <= 1500 || after.gaps.some((g) => Date.parse(g.start) <= a + 5 && Date.parse(g.end) >= b - 5) }).toEqual({ hole: [isoOf(a), isoOf(b)], explained: true });
  }
  expect(after.gaps.filter((g) => Date.parse(g.end) - Date.parse(g.start) > 60_000)).toEqual([]);
  expect(Date.parse(after.ranges.at(-1)!.end)).toBeGreaterThan(now - 3000);
  // The steps did not fake a stall (the watchdog measures elapsed time): one session throughout.
  expect(e.ingest("cam1", "main")!.status().sessions).toBe(1);
}, 90_000);
