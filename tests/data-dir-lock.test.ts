/**
 * One process per data directory (lib/lock). A second `outpost central` on a running central's
 * data dir opened the embedded PGlite database before the store index's DuckDB lock refused it;
 * two processes then wrote it, and every later start failed inside PGlite (`Aborted()`). A second
 * `outpost edge` read and wrote the first's files (its GStreamer PID list, keys, outbox) before
 * the same DuckDB lock stopped it. Now the second is refused before it opens anything, names the
 * first's PID, exits non-zero, and the first's data opens intact once it stops.
 */
import "reflect-metadata";
import { afterAll, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCamsim } from "../camsim/index.ts";
import { startEdge } from "../edge/main.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { OUTPOST, removeTempDirs, run, tempDir, until, type Run } from "./helpers.ts";
import { quiet, startTestCentral } from "./lib/cp.ts";

afterAll(removeTempDirs);

/** EX_TEMPFAIL: the other process may stop; then this one can start. */
const REFUSED = 75;
const refusal = (dir: string, by: string, pid: number) => `outpost: ${dir} is in use by ${by} PID ${pid}; stop it first`;

test("a second central on a running central's data dir is refused before it opens the database; the first's data opens intact after it stops", async () => {
  const root = await tempDir("lock-central");
  const dataDir = join(root, "central");
  const first = await startTestCentral(root);
  let second: Run | undefined;
  try {
    expect((await first.api("POST", "/api/v1/users", { name: "made-before", password: "made-before-pw-1", roles: ["admin"] })).status).toBe(201);
    const cfg = join(root, "central.yaml");
    await writeFile(cfg, `dataDir: ${dataDir}\napi: { port: 0, plainHttp: true }\nenroll: { port: 0 }\nfederation: { port: 0 }\nmqtt: { port: 0 }\nlive: { rtsp: { enabled: false } }\n`);
    second = await run(["bun", OUTPOST, "central", "--config", cfg], { timeoutMs: 90_000 });
  } finally {
    await first.close();
  }
  expect({ code: second?.code, stderr: second?.stderr.trim().split("\n")[0] }).toEqual({ code: REFUSED, stderr: expect.stringContaining(refusal(dataDir, "central", process.pid)) });
  // The data the first central wrote opens (PGlite not corrupted) and holds the user made before.
  const again = await startTestCentral(root);
  try {
    const login = await fetch(`${again.central.apiUrl}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "made-before", password: "made-before-pw-1" }) });
    expect(login.status).toBe(200);
  } finally {
    await again.close();
  }
}, 180_000);

test("a second edge on a recording edge's data dir is refused before it touches any file there; the first's recordings open intact after it stops", async () => {
  const root = await tempDir("lock-edge");
  const dataDir = join(root, "edge");
  const sim = await startCamsim({ cameras: 1, main: { width: 320, height: 180, fps: 15, bitrateKbps: 200 }, discoveryPort: null, log: quiet("camsim") });
  const camera = { id: "cam1", rtsp: { main: sim.cameras[0]!.rtspMain }, user: sim.user, password: sim.password, streams: ["main"] };
  const config = { dataDir, api: { enabled: false }, storage: { minFreeBytes: 0, segmentDurationMs: 1000 }, cameras: [camera] };
  let segmentsBefore = 0;
  let second: Run | undefined;
  try {
    const first = await startEdge(config as never, { logSink: new MemorySink(), serveApi: false });
    try {
      segmentsBefore = await until("the first edge committed a segment", async () => (await first.store.cameras()).find((c) => c.cameraId === "cam1")?.segments, 60_000);
      const cfg = join(root, "edge.yaml");
      await writeFile(cfg, JSON.stringify(config));
      second = await run(["bun", OUTPOST, "edge", "--config", cfg], { timeoutMs: 90_000 });
    } finally {
      await first.stop();
    }
  } finally {
    await sim.close();
  }
  expect({ code: second?.code, stderr: second?.stderr.trim().split("\n")[0] }).toEqual({ code: REFUSED, stderr: expect.stringContaining(refusal(dataDir, "edge", process.pid)) });
  const store = await MediaStore.open({ root: dataDir, log: new Logger({ component: "store", sink: new MemorySink() }), minFreeBytes: 0 });
  try {
    const cam = (await store.cameras()).find((c) => c.cameraId === "cam1");
    expect(cam?.segments ?? 0).toBeGreaterThanOrEqual(segmentsBefore);
  } finally {
    await store.close();
  }
}, 180_000);
