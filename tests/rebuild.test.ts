/**
 * Index rebuild end to end: the real edge records 1 camera × 2 streams for ~10 s with a stall
 * in the middle (camsim stall/resume → gap "stall") and an evidence lock made through the API;
 * the edge stops; the timeline (ranges, gaps with reasons, segments with hashes) and the locks
 * are noted from the index; index.sqlite (and its WAL) are deleted; `outpost check --rebuild`
 * exits 0; the store opened again answers the same timeline and locks for the old window.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore, type StreamKind } from "../lib/store/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { ApiClient, OUTPOST, gstProcesses, hashPassword, isoOf, pgrepGst, removeTempDirs, run, tempDir, until, closeRig } from "./helpers.ts";

let sim: Camsim;
let edge: Edge | undefined;
let dir: string;
const sink = new MemorySink();
const log = new Logger({ component: "test", sink });

beforeAll(async () => {
  dir = await tempDir("rebuild");
  sim = await startCamsim({ cameras: 1, main: { width: 640, height: 360, fps: 15, bitrateKbps: 400 }, sub: { width: 320, height: 180, fps: 15, bitrateKbps: 120 }, discoveryPort: null, log });
}, 30_000);

afterAll(async () => {
  await closeRig(edge, sim);
}, 30_000);

async function snapshot(fromMs: number, toMs: number) {
  const store = await MediaStore.open({ root: dir, minFreeBytes: 0, log });
  try {
    const out: Record<string, unknown> = {};
    for (const stream of ["main", "sub"] as StreamKind[]) {
      const tl = await store.timeline({ cameraId: "cam1", stream, fromMs, toMs });
      const segs = await store.segments({ cameraId: "cam1", stream, fromMs, toMs });
      out[stream] = {
        ranges: tl.ranges,
        gaps: tl.gaps.map((g) => ({ startMs: g.startMs, endMs: g.endMs, reason: g.reason, detail: g.detail })),
        segments: segs.map((s) => ({ path: s.path, startMs: s.startMs, endMs: s.endMs, bytes: s.bytes, sha256: s.sha256, mime: s.mime, width: s.width, height: s.height })),
      };
    }
    out.locks = await store.locks();
    return out as { main: any; sub: any; locks: any[] };
  } finally {
    await store.close();
  }
}

test("delete the index → outpost check --rebuild → same timeline (ranges, gaps with reasons) and locks", async () => {
  const t0 = Date.now();
  const e = await startEdge(
    {
      dataDir: dir,
      api: { port: 0, plainHttp: true }, // not a TLS test
      admin: { passwordHash: await hashPassword("rebuild-pw") },
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      ingest: { stallTimeoutMs: 2000, connectTimeoutMs: 4000, backoffInitialMs: 200, backoffMaxMs: 1000, stableMs: 1000, staggerMs: 300 },
      cameras: [{ id: "cam1", rtsp: { main: sim.camera("cam1").rtspMain, sub: sim.camera("cam1").rtspSub }, user: sim.user, password: sim.password }],
    },
    { log },
  );
  edge = e;
  const api = await ApiClient.login(e.url!, "admin", "rebuild-pw");
  const st = (s: StreamKind) => e.ingest("cam1", s)?.status();
  await until("both streams recording", () => st("main")?.state === "recording" && st("sub")?.state === "recording", 30_000);
  await until("≥ 2 committed segments per stream", async () => {
    const c = await e.store.cameras();
    return c.length === 2 && c.every((x) => x.segments >= 3);
  });
  await sim.stall("cam1");
  await until("stall detected on both streams", () => st("main")?.reason === "stall" && st("sub")?.reason === "stall", 15_000);
  const resumedAt = Date.now();
  await sim.resume("cam1");
  await until(
    "recording again after the stall",
    () => ["main", "sub"].every((s) => st(s as StreamKind)?.state === "recording" && Date.parse(st(s as StreamKind)!.lastFragmentAt!) > resumedAt),
    20_000,
  );
  await until("≥ 2 segments after the stall", async () => (await e.store.segments({ cameraId: "cam1", stream: "sub", fromMs: resumedAt, toMs: Date.now() })).filter((s) => !s.open).length >= 2, 20_000);
  // Locks through the API: one over the start (no expiry), one over the stall (with expiry).
  const l1 = await api.post("/evidence-locks", { cameraId: "cam1", from: isoOf(t0), to: isoOf(t0 + 4000), reason: "door forced" });
  const l2 = await api.post("/evidence-locks", { cameraId: "cam1", from: isoOf(resumedAt - 3000), to: isoOf(resumedAt + 2000), reason: "stall window", expiresAt: isoOf(Date.now() + 86_400_000) });
  expect([l1.status, l2.status]).toEqual([201, 201]);
  await e.stop();
  edge = undefined;
  // The final "stopped" gap stays open (it runs to now): compare up to a moment just after the
  // stop, already past, where both snapshots clip it. The margin covers a last segment whose
  // wall-clock end lands a little after stop() returned on a loaded machine.
  const stoppedAt = Date.now() + 2000;
  await Bun.sleep(2100);

  const before = await snapshot(t0 - 10_000, stoppedAt);
  for (const s of ["main", "sub"] as const) {
    const reasons = before[s].gaps.map((g: { reason: string }) => g.reason);
    expect(reasons).toContain("stall");
    expect(reasons[reasons.length - 1]).toBe("stopped");
    expect(before[s].ranges.length).toBe(2);
    expect(before[s].segments.length).toBeGreaterThanOrEqual(5);
  }
  expect(before.locks.length).toBe(2);
  const stall = before.main.gaps.find((g: { reason: string }) => g.reason === "stall");
  expect(stall.endMs).toBe(before.main.ranges[1].startMs);
  expect(stall.startMs).toBe(before.main.ranges[0].endMs);

  for (const f of ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"]) await rm(join(dir, f), { force: true });
  expect(existsSync(join(dir, "index.sqlite"))).toBe(false);
  const rb = await run(["bun", OUTPOST, "check", "--data", dir, "--rebuild"]);
  expect({ code: rb.code, err: rb.stderr.trim() }).toEqual({ code: 0, err: "" });
  expect(rb.stdout).toContain("OK: disk and index agree");
  const chk = await run(["bun", OUTPOST, "check", "--data", dir]);
  expect(chk.code).toBe(0);

  const after = await snapshot(t0 - 10_000, stoppedAt);
  expect(after.main).toEqual(before.main);
  expect(after.sub).toEqual(before.sub);
  expect(after.locks).toEqual(before.locks);
  console.log(
    `rebuild: main ${before.main.segments.length} segs, gaps ${before.main.gaps.map((g: any) => g.reason)}; sub ${before.sub.segments.length} segs; ${before.locks.length} locks — identical after rebuild`,
  );
}, 110_000);
