/**
 * Restart of the edge process (`outpost edge --config F` as a child, native engine) against two
 * camsims (two RTSP servers): cameras "a" and "a2" on one, camera "b" on the other (in that order).
 *  1. Stream starts are staggered per RTSP server, not across cameras: with a 10 s stagger, a and
 *     b both record while a2 (same server as a) still waits its turn.
 *  2. kill -9, restart: every stream that recorded before resumes; the store reports a "crash" gap
 *     from the last recorded instant to the first new segment. The time from restart to the
 *     first new frame is printed (BENCHMARKS.md), not asserted: it depends on the machine's load.
 *  3. SIGTERM right after the store opened (the edge records before the rest has loaded) stops
 *     the edge cleanly: exit 0, CLEAN written.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCamsim, withCredentials, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore, type StreamKind } from "../lib/store/index.ts";
import { EdgeProcess, removeTempDirs, tempDir, until } from "./helpers.ts";

setDefaultTimeout(120_000);

const quiet = new Logger({ component: "test", sink: new MemorySink(), level: "error" });
let simA: Camsim;
let simB: Camsim;
let dataDir: string;
let cfgFile: string;
const edges: EdgeProcess[] = [];

const small = { main: { width: 320, height: 180, fps: 15, bitrateKbps: 200 }, discoveryPort: null, log: quiet } as const;

beforeAll(async () => {
  [simA, simB] = await Promise.all([startCamsim({ cameras: 2, ...small }), startCamsim({ cameras: 1, ...small })]);
  const dir = await tempDir("edge-restart");
  dataDir = join(dir, "data");
  cfgFile = join(dir, "edge.json");
  const url = (s: Camsim, i: number) => withCredentials(s.cameras[i]!.rtspMain, s.user, s.password);
  await writeFile(
    cfgFile,
    JSON.stringify({
      dataDir,
      logLevel: "info",
      api: { enabled: false },
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      ingest: { staggerMs: 10_000 },
      cameras: [
        { id: "a", rtsp: { main: url(simA, 0) }, streams: ["main"] },
        { id: "a2", rtsp: { main: url(simA, 1) }, streams: ["main"] },
        { id: "b", rtsp: { main: url(simB, 0) }, streams: ["main"] },
      ],
    }),
  );
}, 60_000);

afterAll(async () => {
  for (const e of edges) if (e.proc.exitCode === null && e.proc.signalCode === null) e.kill9();
  await Promise.all(edges.map((e) => e.exited()));
  await Promise.all([simA?.close(), simB?.close()]);
  await removeTempDirs();
});

/** Streams ("a/main") that logged "recording" in this edge process. */
function recording(e: EdgeProcess): Set<string> {
  const out = new Set<string>();
  for (const line of e.log.split("\n")) {
    if (!line.includes('"recording"')) continue;
    try {
      const r = JSON.parse(line) as { msg?: string; camera?: string; stream?: string };
      if (r.msg === "recording" && r.camera && r.stream) out.add(`${r.camera}/${r.stream}`);
    } catch {
      // a partial last line
    }
  }
  return out;
}

function start(): EdgeProcess {
  const e = new EdgeProcess(cfgFile);
  edges.push(e);
  return e;
}

const alive = (e: EdgeProcess) => {
  if (e.proc.exitCode !== null) throw new Error(`edge exited ${e.proc.exitCode}: ${e.log.slice(-3000)}`);
};

test("streams of different cameras start at once; streams of one camera keep the stagger", async () => {
  const e = start();
  const seen = await until(
    "a/main and b/main recording",
    () => {
      alive(e);
      const s = recording(e);
      return s.has("a/main") && s.has("b/main") ? s : undefined;
    },
    60_000,
  );
  // a2 is 10 s behind a on the same server; b did not queue behind either of them.
  expect(seen.has("a2/main")).toBe(false);
});

test("kill -9 and restart: recording resumes on every stream that recorded, a crash gap spans the hole", async () => {
  const first = edges[0]!;
  await Bun.sleep(3000); // recording since the first test: a few segments on disk
  alive(first);
  const killAt = Date.now();
  first.kill9();
  await first.exited();

  const spawnAt = Date.now();
  const second = start();
  await until(
    "a/main and b/main recording after the restart",
    () => {
      alive(second);
      const s = recording(second);
      return s.has("a/main") && s.has("b/main") ? true : undefined;
    },
    90_000,
  );
  await Bun.sleep(2500); // a segment of each closes (2 s segments)
  expect(await second.stop()).toBe(0);

  const store = await MediaStore.open({ root: dataDir, log: quiet, segmentDurationMs: 2000, minFreeBytes: 0 });
  try {
    for (const [cameraId, stream] of [["a", "main"], ["b", "main"]] as [string, StreamKind][]) {
      const tl = await store.timeline({ cameraId, stream, fromMs: killAt - 120_000, toMs: Date.now() + 1000 });
      const before = tl.segments.filter((s) => s.startMs < killAt);
      expect(before.length).toBeGreaterThan(0);
      const lastEnd = Math.max(...before.map((s) => s.endMs));
      const next = tl.segments.find((s) => s.startMs >= Math.max(killAt, lastEnd));
      const gap = tl.gaps.find((g) => g.reason === "crash" && g.startMs === lastEnd);
      expect({ cameraId, resumed: !!next, crashGap: gap?.reason }).toEqual({ cameraId, resumed: true, crashGap: "crash" });
      // The gap runs from the last recorded instant (before the kill) to the first new frame (after it).
      // (a fragment's wall end comes from media time: it may sit a few ms past the host's kill instant)
      expect(gap!.startMs).toBeLessThanOrEqual(killAt + 50);
      expect(gap!.endMs).toBe(next!.startMs);
      expect(gap!.endMs).toBeGreaterThan(killAt);
      console.log(`${cameraId}/${stream}: lost ${killAt - lastEnd} ms before the kill; first new frame ${next!.startMs - spawnAt} ms after the restart (gap ${gap!.endMs - gap!.startMs} ms)`);
    }
  } finally {
    await store.close();
  }
});

test("SIGTERM while the edge is still starting (recording before the API and federation are loaded) stops it cleanly", async () => {
  // The store opens before the rest of the edge loads: a stop asked for right then must wait for
  // the start and close the store (CLEAN), not take the default action of SIGTERM (exit by signal).
  const dir = await tempDir("edge-early-stop");
  const file = join(dir, "edge.json");
  await writeFile(file, JSON.stringify({ dataDir: join(dir, "data"), logLevel: "info", api: { port: 0, plainHttp: true }, storage: { minFreeBytes: 0 }, cameras: [] }));
  const e = new EdgeProcess(file);
  edges.push(e);
  await until(
    "store open",
    () => {
      alive(e);
      return e.log.includes('"store open"');
    },
    60_000,
    5,
  );
  e.proc.kill("SIGTERM");
  await e.exited();
  expect({ exit: e.proc.exitCode, signal: e.proc.signalCode }).toEqual({ exit: 0, signal: null });
  expect(e.log).toContain("edge recorder stopped");
  expect(await Bun.file(join(dir, "data", "CLEAN")).exists()).toBe(true);
});
