/**
 * Disk full end to end: the real edge (API served) recording 1 camera × 2 streams under a tiny
 * quota (storage.maxTotalBytes ≈ 12 s of both streams) for ~30 s. Retention must free space
 * oldest first, an evidence lock created through the API on the first seconds must keep its
 * segments (on disk and in the timeline), recording must go on up to now, and after a stop
 * `outpost check` must find disk and index in agreement.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore, type StreamKind } from "../lib/store/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { ApiClient, OUTPOST, gstProcesses, hashPassword, isoOf, pgrepGst, removeTempDirs, run, tempDir, until, closeRig } from "./helpers.ts";

const QUOTA = 900_000;
let sim: Camsim;
let edge: Edge | undefined;
let dir: string;
let api: ApiClient;
const sink = new MemorySink();
const log = new Logger({ component: "test", sink });

beforeAll(async () => {
  dir = await tempDir("diskfull");
  sim = await startCamsim({ cameras: 1, main: { width: 640, height: 360, fps: 15, bitrateKbps: 400 }, sub: { width: 320, height: 180, fps: 15, bitrateKbps: 120 }, discoveryPort: null, log });
  edge = await startEdge(
    {
      dataDir: dir,
      api: { port: 0, plainHttp: true }, // not a TLS test
      admin: { passwordHash: await hashPassword("diskfull-pw") },
      storage: { segmentDurationMs: 2000, maxTotalBytes: QUOTA, minFreeBytes: 0, retentionIntervalMs: 1000 },
      ingest: { stallTimeoutMs: 2000, backoffInitialMs: 200, backoffMaxMs: 2000, staggerMs: 300 },
      cameras: [{ id: "cam1", rtsp: { main: sim.camera("cam1").rtspMain, sub: sim.camera("cam1").rtspSub }, user: sim.user, password: sim.password }],
    },
    { log },
  );
  api = await ApiClient.login(edge.url!, "admin", "diskfull-pw");
}, 30_000);

afterAll(async () => {
  await closeRig(edge, sim);
}, 30_000);

test("tiny quota: retention frees space, the locked early footage stays, recording goes on, index consistent", async () => {
  const e = edge!;
  const st = (s: StreamKind) => e.ingest("cam1", s)?.status();
  await until("both streams recording", () => st("main")?.state === "recording" && st("sub")?.state === "recording", 30_000);
  // Two committed segments per stream, then lock the first ones through the API.
  await until("first segments committed", async () => (await e.store.cameras()).every((c) => c.segments >= 3) && (await e.store.cameras()).length === 2, 20_000);
  const first = await e.store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: Date.now() });
  const lockFrom = first[0]!.startMs;
  const lockTo = first[0]!.endMs + 500; // the first main segment and a bit of the next
  const res = await api.post("/evidence-locks", { cameraId: "cam1", from: isoOf(lockFrom), to: isoOf(lockTo), reason: "incident on the platform" });
  expect(res.status).toBe(201);
  const lock = (await res.json()) as { id: string; from: string; to: string };
  const lockedMain = await e.store.segments({ cameraId: "cam1", stream: "main", fromMs: lockFrom, toMs: lockTo });
  const lockedSub = await e.store.segments({ cameraId: "cam1", stream: "sub", fromMs: lockFrom, toMs: lockTo });
  const locked = [...lockedMain, ...lockedSub].filter((s) => !s.open);
  expect(lockedMain.length).toBeGreaterThanOrEqual(2);
  const t0 = Date.now();
  // Record until the quota has been reached several times over: ~30 s at ~65 kB/s ≈ 2 × quota.
  const deletedBefore = sink.records.filter((r) => r.msg === "retention deleted segments").length;
  await until(
    "retention ran repeatedly and ≥ 28 s passed",
    () => Date.now() - t0 >= 28_000 && sink.records.filter((r) => r.msg === "retention deleted segments").length - deletedBefore >= 3,
    60_000,
    250,
  );
  const now = Date.now();
  const usage = await e.store.usage();
  // Closed segments within the quota; the two open segments may be over it by what they hold.
  expect(usage.totalBytes).toBeLessThanOrEqual(QUOTA + 400_000);
  for (const stream of ["main", "sub"] as const) {
    const all = await e.store.segments({ cameraId: "cam1", stream, fromMs: lockFrom - 60_000, toMs: now + 1000 });
    // Oldest unlocked footage is gone: after the locked segments comes a hole, then recent footage.
    const unlockedOld = all.filter((s) => !s.open && s.startMs >= lockTo && s.endMs < t0);
    expect({ stream, unlockedOldLeft: unlockedOld.length }).toEqual({ stream, unlockedOldLeft: 0 });
    // Recording goes on up to now.
    const tl = await api.json<{ ranges: { start: string; end: string }[]; gaps: { reason: string; start: string; end: string }[] }>(
      `/cameras/cam1/timeline?from=${isoOf(lockFrom - 1000)}&to=${isoOf(now + 1000)}&stream=${stream}`,
    );
    const last = tl.ranges[tl.ranges.length - 1]!;
    expect(Date.parse(last.end)).toBeGreaterThan(now - 3000);
    // The locked window is still covered by the timeline.
    const lockedHere = (stream === "main" ? lockedMain : lockedSub).filter((x) => !x.open);
    expect(tl.ranges[0]!.start).toBe(isoOf(Math.max(lockFrom - 1000, lockedHere[0]!.startMs)));
    expect(Date.parse(tl.ranges[0]!.end)).toBeGreaterThanOrEqual(lockedHere[lockedHere.length - 1]!.endMs);
    expect(Date.parse(tl.ranges[0]!.end)).toBeGreaterThanOrEqual(lockTo);
    const reasons = tl.gaps.map((g) => `${g.reason}${(g as { detail?: string }).detail ? `: ${(g as { detail?: string }).detail}` : ""}`);
    console.log(`diskfull ${stream}: ${all.length} segments kept, ${tl.ranges.length} ranges, gaps ${JSON.stringify(reasons)}, store ${usage.totalBytes} B of quota ${QUOTA}`);
  }
  // Locked segments are still there, files and rows.
  for (const s of locked) expect({ path: s.path, onDisk: existsSync(e.store.absPath(s)) }).toEqual({ path: s.path, onDisk: true });
  const locks = await api.json<{ locks: { id: string }[] }>("/evidence-locks?cameraId=cam1");
  expect(locks.locks.map((l) => l.id)).toEqual([lock.id]);
  const freed = sink.records.filter((r) => r.msg === "retention deleted segments").reduce((a, r) => a + Number(r.freedBytes ?? 0), 0);
  console.log(`diskfull: retention freed ${freed} B in ${sink.records.filter((r) => r.msg === "retention deleted segments").length} runs`);
  // Pipeline ends other than the final stop (seen once under load: a "crash" gap on main) are printed with their detail.
  for (const r of sink.records.filter((x) => x.msg === "pipeline ended" && x.reason !== "stopped")) console.log(`diskfull: pipeline ended: ${r.reason} ${r.detail} (${r.stream})`);
  const errors = sink.records.filter((r) => r.level === "error");
  expect(errors.map((r) => r.msg)).toEqual([]);

  await e.stop();
  edge = undefined;
  const chk = await run(["bun", OUTPOST, "check", "--data", dir]);
  expect({ code: chk.code, out: chk.code ? chk.stdout + chk.stderr : "" }).toEqual({ code: 0, out: "" });
  // Reopened, the locked footage is still indexed.
  const store = await MediaStore.open({ root: dir, minFreeBytes: 0, log });
  try {
    const after = await store.segments({ cameraId: "cam1", stream: "main", fromMs: lockFrom, toMs: lockTo });
    const paths = after.map((s) => s.path);
    for (const s of lockedMain.filter((x) => !x.open)) expect(paths).toContain(s.path);
    expect((await store.locks("cam1")).map((l) => l.id)).toEqual([lock.id]);
  } finally {
    await store.close();
  }
}, 110_000);
