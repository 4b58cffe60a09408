/**
 * System test of the edge recorder: camsim (2 cameras) → startEdge → store. 2 cameras × 2
 * streams for ≥ 20 s: one continuous range per stream, every segment decodes with ffmpeg.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";

let sim: Camsim;
let edge: Edge;
let dir: string;
const log = new Logger({ component: "test", sink: new MemorySink() });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-edge-recorder-"));
  sim = await startCamsim({ cameras: 2, main: { width: 640, height: 360, bitrateKbps: 500 }, sub: { width: 320, height: 180, bitrateKbps: 150 }, audio: true, discoveryPort: null, log });
  edge = await startEdge(
    {
      dataDir: dir,
      storage: { segmentDurationMs: 4000, minFreeBytes: 0 },
      cameras: sim.cameras.map((c) => ({ id: c.id, onvif: { address: c.onvifUrl }, user: sim.user, password: sim.password })),
    },
    { log, serveApi: false },
  );
}, 30_000);

afterAll(async () => {
  await edge?.stop();
  await sim?.close();
  await rm(dir, { recursive: true, force: true });
});

test("2 cameras × 2 streams ≥ 20 s: continuous timeline, every segment decodes", async () => {
  const deadline = Date.now() + 20_000;
  while (!edge.status().cameras.every((c) => c.streams.length === 2 && c.streams.every((s) => s.state === "recording"))) {
    if (Date.now() > deadline) throw new Error(`not recording: ${JSON.stringify(edge.status())}`);
    await Bun.sleep(100);
  }
  const from = Date.now();
  await Bun.sleep(22_000);
  const to = Date.now();
  for (const cam of ["cam1", "cam2"]) {
    for (const stream of ["main", "sub"] as const) {
      const tl = await edge.store.timeline({ cameraId: cam, stream, fromMs: from, toMs: to });
      const covered = tl.ranges.reduce((a, r) => a + Math.min(r.endMs, to) - Math.max(r.startMs, from), 0);
      expect({ cam, stream, ranges: tl.ranges.length }).toEqual({ cam, stream, ranges: 1 });
      expect(covered).toBeGreaterThan(to - from - 5000); // the open segment is reported up to its last fragment
      for (const s of tl.segments.filter((x) => !x.open)) {
        // ffprobe decodes every frame of every stream (video and AAC).
        const p = Bun.spawn(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", edge.store.absPath(s)], { stdout: "pipe", stderr: "pipe" });
        const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
        await p.exited;
        expect({ seg: s.path, exit: p.exitCode, err: err.trim() }).toEqual({ seg: s.path, exit: 0, err: "" });
        expect(out).toMatch(/h264,[1-9]\d*/);
        expect(out).toMatch(/aac,[1-9]\d*/);
      }
    }
  }
}, 60_000);
