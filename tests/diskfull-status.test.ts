/**
 * A truly full volume (a 12 MiB tmpfs filled by a foreign file; needs root, skipped otherwise)
 * under a real edge and a camsim camera, with an evidence lock over everything so retention
 * cannot make room: every fragment is refused with ENOSPC. The status must say so — /health and /cameras "not-writing"
 * with "disk full", /health disk.full — and the disk.full event must survive the full disk
 * (held in memory, listed by /events, written once there is room). Issue 13 item 5.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFile, rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { ApiClient, closeRig, hashPassword, isoOf, tempDir, until } from "./helpers.ts";

let sim: Camsim | undefined;
let edge: Edge | undefined;
let mnt: string;
let mounted = false;
const log = new Logger({ component: "test", sink: new MemorySink() });

beforeAll(async () => {
  mnt = await tempDir("diskfull-status");
  if (process.getuid?.() !== 0) return;
  mounted = (await Bun.$`mount -t tmpfs -o size=12m tmpfs ${mnt}`.nothrow().quiet()).exitCode === 0;
  if (!mounted) return;
  sim = await startCamsim({ cameras: 1, main: { width: 640, height: 360, fps: 15, bitrateKbps: 1500 }, discoveryPort: null, log });
  edge = await startEdge(
    {
      dataDir: join(mnt, "data"),
      api: { port: 0, plainHttp: true },
      admin: { passwordHash: await hashPassword("full-pw") },
      storage: { segmentDurationMs: 2000, minFreeBytes: 0, retentionIntervalMs: 500 },
      ingest: { stallTimeoutMs: 3000, backoffInitialMs: 200, backoffMaxMs: 1000 },
      cameras: [{ id: "cam1", streams: ["main"], rtsp: { main: sim.camera("cam1").rtspMain }, user: sim.user, password: sim.password }],
    },
    { log, events: { holdMs: 300, pollMs: 200, diskPollMs: 300 } },
  );
}, 30_000);

afterAll(async () => {
  await closeRig(edge, sim);
  if (mounted) await Bun.$`umount ${mnt}`.nothrow().quiet();
}, 30_000);

test("ENOSPC on every fragment: streams say not writing — disk full, /health has the disk flag, the disk.full event survives", async () => {
  if (!mounted) {
    console.warn("skipped: needs root to mount a tmpfs");
    return;
  }
  const e = edge!;
  const api = await ApiClient.login(e.url!, "admin", "full-pw");
  await until("recording", () => e.ingest("cam1", "main")?.status().state === "recording", 30_000);
  const lock = await api.post("/evidence-locks", { cameraId: "cam1", from: isoOf(Date.now() - 60_000), to: isoOf(Date.now() + 3_600_000), reason: "keep everything" });
  expect(lock.status).toBe(201);
  // Something else fills the volume (camsim's bitrate would take minutes): ~600 kB stay free.
  const fs0 = await statfs(mnt);
  await writeFile(join(mnt, "filler"), new Uint8Array(Math.max(0, fs0.bavail * fs0.bsize - 600_000)));
  type Health = { disk: { full: boolean; writable: boolean }; streams: { stream: string; state: string; detail?: string; writer: { state: string; lagMs: number } }[] };
  const health = await until(
    "health says not writing",
    async () => {
      const h = await api.json<Health>("/health");
      return h.streams[0]?.state === "not-writing" && h.disk.full ? h : undefined;
    },
    60_000,
    250,
  );
  expect(health.streams[0]!.detail).toBe("not writing — disk full");
  expect(health.streams[0]!.writer.state).toBe("disk-full");
  expect(health.disk.writable).toBe(false);
  const cams = await api.json<{ cameras: { streams: { status: string; reason?: string }[] }[] }>("/cameras");
  expect(cams.cameras[0]!.streams[0]!.status).toBe("not-writing");
  expect(cams.cameras[0]!.streams[0]!.reason).toContain("disk full");
  // The event is there although the event log's volume is full.
  const ev = await until(
    "disk.full event listed",
    async () => (await api.json<{ events: { type: string }[] }>("/events?limit=100")).events.find((x) => x.type === "disk.full"),
    20_000,
    250,
  );
  expect(ev.type).toBe("disk.full");
  // Room again: the held event reaches the file and recording resumes.
  await rm(join(mnt, "filler"));
  await until(
    "held event written to the event log",
    async () => (await readFile(join(mnt, "data", "events", "events.jsonl"), "utf8").catch(() => "")).includes('"disk.full"'),
    30_000,
    250,
  );
  await until("recording again", async () => (await api.json<Health>("/health")).streams[0]?.state === "recording", 30_000, 250);
}, 150_000);
