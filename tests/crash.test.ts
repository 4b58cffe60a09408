/**
 * Crash safety end to end against camsim, 1 camera × 2 streams per part:
 *  A. kill -9 of the edge process (`outpost edge --config F` as a child, the default native
 *     engine with its default read batch and durability) 10 times at random moments (1.5–5 s
 *     of recording between kills), restarted each time;
 *  B. kill -9 of one gst-launch child (pid from edge.ingest(cam, stream)) 10 times, the edge
 *     running in this process.
 * Both parts run at once (different cameras, different data dirs). Afterwards, edge stopped:
 * `outpost check` exits 0, and for every kill at host time T and every killed stream, the last
 * recorded segment that started before T ends at ≥ T − 1000 ms (measured on the segments the
 * store indexed: what survived is what counts), a "crash" gap starts exactly there and ends
 * where the next segment starts, and that next segment exists (recording resumed).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore, type GapRecord, type SegmentRecord, type StreamKind } from "../lib/store/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { EdgeProcess, OUTPOST, alive, childrenOf, gstProcesses, pgrepGst, removeTempDirs, run, tempDir, until } from "./helpers.ts";

const KILLS = 10;
const STREAMS: StreamKind[] = ["main", "sub"];
const sink = new MemorySink();
const log = new Logger({ component: "test", sink, level: "info" });

let sim: Camsim;
const edges: EdgeProcess[] = [];
let inproc: Edge | undefined;

interface Kill {
  atMs: number;
  streams: StreamKind[];
}
interface PartResult {
  dataDir: string;
  kills: Kill[];
  startMs: number;
}

const ingestCfg = { engine: "gstreamer" as const, stallTimeoutMs: 2000, connectTimeoutMs: 4000, backoffInitialMs: 100, backoffMaxMs: 1000, stableMs: 1000, latencyMs: 100, staggerMs: 200 };
const storageCfg = { segmentDurationMs: 2000, minFreeBytes: 0, retentionIntervalMs: 60_000 };
const camCfg = (id: string) => ({ id, rtsp: { main: sim.camera(id).rtspMain, sub: sim.camera(id).rtspSub }, user: sim.user, password: sim.password });
const randomMs = () => 1500 + Math.random() * 3500;

/** Segment start times on disk for one stream (file names carry them). */
function segmentStarts(dataDir: string, cam: string, stream: StreamKind): number[] {
  const base = join(dataDir, "media", cam, stream);
  if (!existsSync(base)) return [];
  const out: number[] = [];
  for (const day of readdirSync(base)) for (const f of readdirSync(join(base, day))) if (/^\d+\.mp4$/.test(f)) out.push(Number(f.slice(0, -4)));
  return out.sort((a, b) => a - b);
}

let partA: Promise<PartResult>;
let partB: Promise<PartResult>;

beforeAll(async () => {
  sim = await startCamsim({ cameras: 2, main: { width: 640, height: 360, fps: 15, bitrateKbps: 400 }, sub: { width: 320, height: 180, fps: 15, bitrateKbps: 120 }, discoveryPort: null, log: log.child({ component: "camsim" }) });
  partA = processKills();
  partA.catch(() => undefined);
  // Stagger the second part's camera joins a little behind the first.
  await Bun.sleep(700);
  partB = childKills();
  partB.catch(() => undefined);
}, 30_000);

afterAll(async () => {
  for (const e of edges) if (e.proc.exitCode === null && e.proc.signalCode === null) e.kill9();
  await Promise.all(edges.map((e) => e.exited()));
  await inproc?.stop().catch(() => undefined);
  const rtspPort = sim?.rtspPort;
  const rtspPid = sim?.rtspPid;
  await sim?.close();
  await removeTempDirs();
  if (rtspPort) {
    // No orphan recorder left reading this camsim, and the camsim RTSP child is gone.
    expect(await until("no gst-launch left on this camsim", async () => (await pgrepGst(rtspPort)).length === 0 || null, 5000).catch(() => false)).toBe(true);
    expect(gstProcesses(`:${rtspPort}/`)).toEqual([]);
  }
  if (rtspPid) expect(alive(rtspPid)).toBe(false);
}, 30_000);

/** Part A: kill -9 of the whole edge process, restart, repeat. */
async function processKills(): Promise<PartResult> {
  const dir = await tempDir("crash-proc");
  const dataDir = join(dir, "data");
  const cfgFile = join(dir, "edge.json");
  // The default engine, read batch and durability: what a crash loses is what the product loses.
  const ingest = { ...ingestCfg, engine: "native" as const };
  await writeFile(cfgFile, JSON.stringify({ dataDir, logLevel: "info", api: { enabled: false }, storage: storageCfg, ingest, cameras: [camCfg("cam1")] }, null, 2));
  const startMs = Date.now();
  const kills: Kill[] = [];
  let since = 0;
  for (let i = 0; i <= KILLS; i++) {
    const edge = new EdgeProcess(cfgFile);
    edges.push(edge);
    // Recording (re)started: each stream has a segment file that began after the last kill.
    await until(
      `edge run ${i}: both streams recording again`,
      () => {
        if (edge.proc.exitCode !== null) throw new Error(`edge exited ${edge.proc.exitCode}: ${edge.log.slice(-3000)}`);
        return STREAMS.every((s) => segmentStarts(dataDir, "cam1", s).some((t) => t > since));
      },
      30_000,
    );
    if (i === KILLS) {
      expect(await edge.stop()).toBe(0);
      break;
    }
    await Bun.sleep(randomMs());
    // Its children (the preview decoder) must go with it.
    const kids = childrenOf(edge.pid);
    const atMs = Date.now();
    edge.kill9();
    await edge.exited();
    kills.push({ atMs, streams: STREAMS });
    since = atMs;
    // pdeathsig takes the children with the edge.
    await until(`children of killed edge ${i} gone`, () => kids.every((p) => !alive(p)), 5000);
  }
  return { dataDir, kills, startMs };
}

/** Part B: kill -9 of one gst-launch child at a time; the edge (in this process) restarts it. */
async function childKills(): Promise<PartResult> {
  const dir = await tempDir("crash-gst");
  const dataDir = join(dir, "data");
  const startMs = Date.now();
  const edge = await startEdge({ dataDir, api: { enabled: false }, storage: storageCfg, ingest: ingestCfg, cameras: [camCfg("cam2")] }, { log: log.child({ component: "edge-b" }), serveApi: false });
  inproc = edge;
  const kills: Kill[] = [];
  const lastKill: Record<StreamKind, number> = { main: 0, sub: 0 };
  const recordingSince = (s: StreamKind, t: number) => {
    const st = edge.ingest("cam2", s)?.status();
    return st?.state === "recording" && st.pid !== undefined && st.lastFragmentAt !== null && Date.parse(st.lastFragmentAt) > t;
  };
  for (let i = 0; i < KILLS; i++) {
    const stream: StreamKind = i % 2 === 0 ? "main" : "sub";
    await until(`gst run ${i}: cam2 ${stream} recording`, () => STREAMS.every((s) => recordingSince(s, lastKill[s])), 20_000);
    await Bun.sleep(randomMs());
    const pid = edge.ingest("cam2", stream)!.pid!;
    expect(readCmd(pid)).toContain("gst-launch-1.0");
    expect(childrenOf(process.pid)).toContain(pid);
    const atMs = Date.now();
    process.kill(pid, "SIGKILL");
    kills.push({ atMs, streams: [stream] });
    lastKill[stream] = atMs;
  }
  await until("cam2 recording after the last gst kill", () => STREAMS.every((s) => recordingSince(s, lastKill[s])), 20_000);
  // Let the resumed streams commit a segment each, so the resume is in the index.
  await until("a committed segment after the last kill", () => STREAMS.every((s) => segmentStarts(dataDir, "cam2", s).filter((t) => t > lastKill[s]).length >= 2), 20_000);
  await edge.stop();
  inproc = undefined;
  return { dataDir, kills, startMs };
}

function readCmd(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

interface Measured {
  stream: StreamKind;
  atMs: number;
  lossMs: number;
  resumedAfterMs: number;
  gap?: GapRecord;
}

/** For each kill and stream: recorded-up-to, the crash gap there, and the resume. */
async function measure(r: PartResult, cam: string): Promise<{ out: Measured[]; segs: Record<StreamKind, SegmentRecord[]>; gaps: Record<StreamKind, GapRecord[]> }> {
  const store = await MediaStore.open({ root: r.dataDir, minFreeBytes: 0, log: log.child({ component: "verify" }) });
  const out: Measured[] = [];
  const segs = {} as Record<StreamKind, SegmentRecord[]>;
  const gaps = {} as Record<StreamKind, GapRecord[]>;
  try {
    for (const stream of STREAMS) {
      const tl = await store.timeline({ cameraId: cam, stream, fromMs: r.startMs - 60_000, toMs: Date.now() + 60_000 });
      segs[stream] = tl.segments;
      gaps[stream] = tl.gaps;
      for (const k of r.kills.filter((k) => k.streams.includes(stream))) {
        const before = tl.segments.filter((s) => s.startMs < k.atMs);
        const lastEnd = Math.max(...before.map((s) => s.endMs));
        const next = tl.segments.find((s) => s.startMs >= Math.max(k.atMs, lastEnd));
        const gap = tl.gaps.find((g) => g.reason === "crash" && Math.abs(g.startMs - lastEnd) <= 5);
        out.push({ stream, atMs: k.atMs, lossMs: k.atMs - lastEnd, resumedAfterMs: next ? next.startMs - k.atMs : Number.NaN, ...(gap ? { gap } : {}) });
        expect({ stream, kill: k.atMs, nextSegment: !!next }).toEqual({ stream, kill: k.atMs, nextSegment: true });
        expect({ stream, kill: k.atMs, crashGap: gap?.reason }).toEqual({ stream, kill: k.atMs, crashGap: "crash" });
        // The gap sits right where the kill happened: from the last recorded instant to the resume.
        expect(gap!.endMs).toBe(next!.startMs);
        // Footage times run on the camera's anchored clock: a fragment already in flight at the kill
        // can end a frame or two past the moment the test sent SIGKILL.
        expect(gap!.startMs).toBeLessThanOrEqual(k.atMs + 200);
        expect(gap!.endMs).toBeGreaterThan(k.atMs);
      }
    }
  } finally {
    await store.close();
  }
  return { out, segs, gaps };
}

async function checkExit0(dataDir: string): Promise<void> {
  const r = await run(["bun", OUTPOST, "check", "--data", dataDir, "--json"]);
  const rep = JSON.parse(r.stdout || "{}") as { ok?: boolean; files?: number; rows?: number; problems?: unknown[] };
  expect({ code: r.code, problems: rep.problems, stderr: r.code ? r.stderr : "" }).toEqual({ code: 0, problems: [], stderr: "" });
  expect(rep.files).toBe(rep.rows!);
  expect(rep.files!).toBeGreaterThan(10);
}

function report(label: string, m: Measured[]): void {
  const loss = m.map((x) => x.lossMs);
  const resume = m.map((x) => x.resumedAfterMs);
  console.log(
    `${label}: ${m.length} stream-kills; loss ms max ${Math.max(...loss)} mean ${Math.round(loss.reduce((a, b) => a + b, 0) / loss.length)} [${loss.join(", ")}]; resumed after ms max ${Math.max(...resume)}`,
  );
}

test("kill -9 of the edge process ×10: check OK, ≤ 1 s lost per crash per stream, crash gaps, recording resumes", async () => {
  const r = await partA;
  expect(r.kills.length).toBe(KILLS);
  await checkExit0(r.dataDir);
  const { out } = await measure(r, "cam1");
  report("edge process kill -9", out);
  expect(out.length).toBe(KILLS * 2);
  for (const m of out) expect({ stream: m.stream, kill: m.atMs, lossMs: m.lossMs, ok: m.lossMs <= 1000 }).toEqual({ stream: m.stream, kill: m.atMs, lossMs: m.lossMs, ok: true });
}, 150_000);

test("kill -9 of one GStreamer child ×10: check OK, ≤ 1 s lost per crash, crash gaps, the stream comes back", async () => {
  const r = await partB;
  expect(r.kills.length).toBe(KILLS);
  await checkExit0(r.dataDir);
  const { out, gaps } = await measure(r, "cam2");
  report("gst child kill -9", out);
  expect(out.length).toBe(KILLS);
  for (const m of out) expect({ stream: m.stream, kill: m.atMs, lossMs: m.lossMs, ok: m.lossMs <= 1000 }).toEqual({ stream: m.stream, kill: m.atMs, lossMs: m.lossMs, ok: true });
  // Only the killed stream gets a crash gap for each kill: one per kill of that stream.
  for (const s of STREAMS) expect(gaps[s].filter((g) => g.reason === "crash").length).toBe(r.kills.filter((k) => k.streams.includes(s)).length);
}, 150_000);
