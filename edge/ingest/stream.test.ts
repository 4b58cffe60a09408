/**
 * Supervisor tests: real GStreamer against camsim, with an in-memory FragmentSink standing in
 * for the store (the store itself is exercised in ingest.test.ts). Times are compressed:
 * stall timeout 1.5 s, backoff 200 ms → 2 s.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCamsim, withCredentials, type Camsim } from "../../camsim/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { concat, fragmentPoolTotals, type FragmentInfo, type InitInfo } from "../../lib/mp4/index.ts";
import type { GapReason } from "../../lib/store/types.ts";
import { StreamIngest, classifyExit, type FragmentSink, type StreamIngestOptions } from "./stream.ts";
import { parseSdp } from "./probe.ts";

class MemorySinkStore implements FragmentSink {
  inits: Uint8Array[] = [];
  frags: { bytes: Uint8Array; info: FragmentInfo; at: number; session: number }[] = [];
  ends: { reason: GapReason; detail?: string; at: number }[] = [];
  init(bytes: Uint8Array, _info: InitInfo): void {
    this.inits.push(bytes);
  }
  async fragment(bytes: Uint8Array, info: FragmentInfo, at: number): Promise<void> {
    // The bytes are the engine's until this settles (a pooled buffer): kept as a copy.
    this.frags.push({ bytes: bytes.slice(), info, at, session: this.inits.length });
  }
  async end(reason: GapReason, detail?: string): Promise<void> {
    this.ends.push({ reason, detail, at: Date.now() });
  }
  /** One playable file from the last session's init and its fragments from the first keyframe. */
  lastSessionFile(): Uint8Array {
    const s = this.inits.length;
    const frags = this.frags.filter((f) => f.session === s);
    const k = frags.findIndex((f) => f.info.keyframe);
    return concat([this.inits[s - 1]!, ...frags.slice(k).map((f) => f.bytes)]);
  }
}

let sim: Camsim;
let dir: string;
const logSink = new MemorySink();
const log = new Logger({ component: "test", sink: logSink, level: "debug" });
const ingests: StreamIngest[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-ingest-"));
  sim = await startCamsim({
    cameras: 4,
    main: { width: 640, height: 360, fps: 15, bitrateKbps: 500 },
    sub: { width: 320, height: 180, fps: 10, bitrateKbps: 150 },
    audio: true,
    discoveryPort: null,
    log: log.child({ component: "camsim" }),
  });
}, 30_000);

afterAll(async () => {
  await Promise.all(ingests.map((i) => i.stop()));
  await sim?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Both engines run the same conformance tests (engine-specific ones are marked). */
const ENGINES = ["gstreamer", "native"] as const;
let engine: (typeof ENGINES)[number] = "gstreamer";

function ingest(camera: string, stream: "main" | "sub", extra: Partial<StreamIngestOptions> = {}): { ing: StreamIngest; sink: MemorySinkStore } {
  const sink = new MemorySinkStore();
  const c = extra.source ? undefined : sim.camera(camera);
  const ing = new StreamIngest({
    cameraId: camera,
    stream,
    source: c ? { url: stream === "main" ? c.rtspMain : c.rtspSub, user: sim.user, password: sim.password } : extra.source!,
    sink,
    log,
    stallTimeoutMs: 1500,
    connectTimeoutMs: 4000,
    backoff: { initialMs: 200, maxMs: 2000, stableMs: 3000 },
    engine,
    ...extra,
  });
  ingests.push(ing);
  ing.start();
  return { ing, sink };
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await Bun.sleep(50);
  }
}

async function ffprobeOk(bytes: Uint8Array): Promise<{ ok: boolean; stderr: string; streams: string }> {
  const f = join(dir, `probe-${crypto.randomUUID()}.mp4`);
  await writeFile(f, bytes);
  const p = Bun.spawn(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", f], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
  await p.exited;
  // Decode every frame: a file that only parses is not enough.
  const d = Bun.spawn(["ffmpeg", "-v", "error", "-nostdin", "-i", f, "-f", "null", "-"], { stdout: "ignore", stderr: "pipe" });
  const derr = await new Response(d.stderr).text();
  await d.exited;
  return { ok: p.exitCode === 0 && d.exitCode === 0 && !err.trim() && !derr.trim(), stderr: err + derr, streams: out };
}

for (const eng of ENGINES) describe(`StreamIngest against camsim (${eng})`, () => {
  beforeAll(() => {
    engine = eng;
  });

  test("records main and sub with audio; fragments decode; status reports rate", async () => {
    const pooled = { ...fragmentPoolTotals };
    const main = ingest("cam1", "main");
    await Bun.sleep(300); // stagger connections to the shared mounts
    const sub = ingest("cam1", "sub");
    await until("4 s of main and sub", () => main.sink.frags.length >= 8 && sub.sink.frags.length >= 8);
    const st = main.ing.status();
    expect(st.state).toBe("recording");
    expect(st.codec).toMatch(/^avc1\./);
    expect(st.width).toBe(640);
    expect(st.audio).toBe("aac");
    expect(st.bitrateKbps).toBeGreaterThan(0);
    expect(st.fps).toBeGreaterThan(5);
    expect(st.lastFragmentAt).not.toBeNull();
    expect(sub.ing.status().height).toBe(180);
    for (const s of [main.sink, sub.sink]) {
      const r = await ffprobeOk(s.lastSessionFile());
      expect(r.stderr).toBe("");
      expect(r.ok).toBe(true);
      expect(r.streams).toContain("h264");
      expect(r.streams).toContain("aac");
      // Fragments are ≤ 1 s (mp4mux fragment-duration=500, cut at keyframes).
      for (const f of s.frags) expect(f.info.durationMs).toBeLessThanOrEqual(1000);
      // Audio moofs travel with the next video moof: every unit the store sees has a video run.
      expect(s.frags.some((f) => f.info.runs.length > 1)).toBe(true);
    }
    // The native engine muxes into reused buffers (lib/mp4/pool.ts): released once the sink is done.
    if (eng === "native") expect(fragmentPoolTotals.reused - pooled.reused).toBeGreaterThan(fragmentPoolTotals.allocated - pooled.allocated);
    await main.ing.stop();
    await sub.ing.stop();
    expect(main.sink.ends.at(-1)?.reason).toBe("stopped");
    expect(main.ing.status().state).toBe("stopped");
    expect(main.ing.pid).toBeUndefined();
  }, 30_000);

  test("stall → gap 'stall', state stalled, recording back after resume within the backoff bound", async () => {
    const { ing, sink } = ingest("cam2", "sub");
    await until("recording", () => ing.status().state === "recording");
    await sim.stall("cam2");
    await until("stall detected", () => sink.ends.some((e) => e.reason === "stall"));
    expect(["stalled", "connecting"]).toContain(ing.status().state);
    expect(ing.status().reason).toBe("stall");
    const n = sink.frags.length;
    await Bun.sleep(500);
    const resumedAt = Date.now();
    await sim.resume("cam2");
    await until("fragments after resume", () => sink.frags.length > n + 2 && ing.status().state === "recording");
    // backoff cap 2 s + connect timeout 4 s + a GOP: the bound for this configuration.
    expect(Date.now() - resumedAt).toBeLessThan(2000 + 4000 + 2000);
    expect(ing.status().reason).toBeUndefined();
    await ing.stop();
  }, 40_000);

  test("stall with the default 5 s timeout while RTCP and keep-alives flow → gap 'stall' after ~5 s, not 'recording'", async () => {
    // The watchdog must be fed by video only: camsim's stall drops RTP but its RTCP sender
    // reports keep coming over the same TCP connection (they used to reset the watchdog).
    const { ing, sink } = ingest("cam2", "sub", { stallTimeoutMs: undefined });
    await until("recording", () => ing.status().state === "recording");
    await sim.stall("cam2");
    const stalledAt = Date.now();
    try {
      // Requirement is a deadline (detect a stall after the timeout); generous margin for a loaded box.
      await until("stall detected", () => sink.ends.some((e) => e.reason === "stall"), 9_500);
      expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(4_500);
      expect(ing.status().state).not.toBe("recording");
      expect(sink.ends.find((e) => e.reason === "stall")!.detail).toContain("5000 ms");
    } finally {
      await sim.resume("cam2");
    }
    await ing.stop();
  }, 40_000);

  test("camera back after an 8 s outage → recording again within ~2 s, not after a long backoff step", async () => {
    const { ing, sink } = ingest("cam3", "sub", { backoff: undefined });
    await until("recording", () => ing.status().state === "recording");
    await sim.stop("cam3");
    await Bun.sleep(8_000);
    const n = sink.frags.length;
    await sim.start("cam3");
    const backAt = Date.now();
    await until("recording again", () => sink.frags.length > n && ing.status().state === "recording");
    // Exponential backoff (0.5, 1, 2, 4, 8 s …) made this ~7.5 s; capped at 1 s offline it is
    // ≤ 1 s + RTSP setup + a GOP (1 s). Deadline requirement: margin for a loaded machine.
    expect(Date.now() - backAt).toBeLessThan(4_500);
    await ing.stop();
  }, 40_000);

  test("camera stop/start → gap 'camera-offline', then recording again", async () => {
    const { ing, sink } = ingest("cam3", "sub");
    await until("recording", () => ing.status().state === "recording");
    await sim.stop("cam3");
    await until("offline gap", () => sink.ends.some((e) => e.reason === "camera-offline"));
    await until("state backoff with reason", () => ing.status().reason === "camera-offline");
    const n = sink.frags.length;
    await sim.start("cam3");
    await until("fragments after start", () => sink.frags.length > n + 2 && ing.status().state === "recording");
    await ing.stop();
  }, 40_000);

  test.if(eng === "gstreamer")("kill -9 of the gst child → gap 'crash', restarted within a second", async () => {
    const { ing, sink } = ingest("cam4", "sub");
    await until("recording", () => ing.status().state === "recording");
    const pid = ing.pid!;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    await until("crash gap", () => sink.ends.some((e) => e.reason === "crash"));
    expect(sink.ends.find((e) => e.reason === "crash")!.detail).toContain("SIGKILL");
    await until("new pipeline", () => ing.pid !== undefined && ing.pid !== pid);
    expect(Date.now() - killedAt).toBeLessThan(1500);
    const n = sink.frags.length;
    await until("recording again", () => sink.frags.length > n + 1 && ing.status().state === "recording");
    expect(ing.status().sessions).toBe(2);
    await ing.stop();
  }, 30_000);

  test.if(eng === "native")("socket reset mid-stream → gap 'camera-offline' with a reason, reconnected within a second", async () => {
    const c = sim.camera("cam4");
    const proxy = await resetProxy(sim.rtspPort);
    try {
      const { ing, sink } = ingest("cam4", "sub", { source: { url: `rtsp://127.0.0.1:${proxy.port}${new URL(c.rtspSub).pathname}`, user: sim.user, password: sim.password } });
      await until("recording", () => ing.status().state === "recording" && sink.frags.length >= 2);
      expect(ing.pid).toBeUndefined(); // in-process: no child
      proxy.reset();
      const resetAt = Date.now();
      await until("gap after reset", () => sink.ends.length > 0);
      expect(sink.ends[0]!.reason).toBe("camera-offline");
      expect(sink.ends[0]!.detail).toBeTruthy();
      const n = sink.frags.length;
      await until("recording again", () => sink.frags.length > n && ing.status().state === "recording");
      // backoff 200 ms + RTSP setup + up to a GOP (1 s) before the first keyframe fragment
      expect(Date.now() - resetAt).toBeLessThan(2500);
      expect(ing.status().sessions).toBe(2);
      const r = await ffprobeOk(sink.lastSessionFile());
      expect(r.stderr).toBe("");
      await ing.stop();
    } finally {
      proxy.close();
    }
  }, 30_000);

  test("wrong credentials → failed / auth-failed, nothing recorded, keeps retrying without crashing", async () => {
    const c = sim.camera("cam1");
    const { ing, sink } = ingest("cam1", "sub", { source: { url: c.rtspSub, user: "admin", password: "wrong" } });
    await until("auth failure", () => ing.status().state === "failed");
    const st = ing.status();
    expect(st.reason).toBe("auth-failed");
    expect(st.detail).toContain("401");
    expect(sink.frags.length).toBe(0);
    expect(sink.ends[0]?.reason).toBe("auth-failed");
    // No retry storm either: at most one gap for the whole outage.
    await Bun.sleep(800);
    expect(sink.ends.length).toBe(1);
    await ing.stop();
  }, 20_000);

  test("credentials in the URL work like separate ones", async () => {
    const c = sim.camera("cam1");
    const { ing, sink } = ingest("cam1", "sub", { source: { url: withCredentials(c.rtspSub, sim.user, sim.password) } });
    await until("recording", () => sink.frags.length >= 2);
    await ing.stop();
  }, 20_000);

  test("unreachable camera → camera-offline with a reason, nothing recorded", async () => {
    const srv = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = srv.port;
    srv.stop(true); // a port that was just free: connection refused
    const { ing, sink } = ingest("camX", "main", { source: { url: `rtsp://127.0.0.1:${port}/x`, user: "a", password: "b" } });
    await until("offline", () => ing.status().reason === "camera-offline");
    expect(ing.status().state).toBe("backoff");
    expect(ing.status().detail).toContain("ECONNREFUSED");
    expect(sink.frags.length).toBe(0);
    await ing.stop();
  }, 20_000);

  test("MJPEG camera → failed / unsupported-codec saying the camera needs H.264 or H.265", async () => {
    const mj = await startCamsim({ cameras: 1, codec: "mjpeg", main: { width: 320, height: 240, fps: 5, bitrateKbps: 100 }, discoveryPort: null, log: log.child({ component: "camsim" }) });
    try {
      const c = mj.camera("cam1");
      const { ing, sink } = ingest("cam1", "main", { source: { url: c.rtspMain, user: mj.user, password: mj.password } });
      await until("failed", () => ing.status().state === "failed");
      expect(ing.status().reason).toBe("unsupported-codec");
      expect(ing.status().detail).toContain("JPEG");
      expect(ing.status().detail).toContain("H.264 or H.265");
      expect(sink.frags.length).toBe(0);
      await ing.stop();
    } finally {
      await mj.close();
    }
  }, 30_000);

  test("unknown stream path → camera-offline naming the 404", async () => {
    const { ing } = ingest("camY", "main", { source: { url: `rtsp://127.0.0.1:${sim.rtspPort}/nope/main`, user: sim.user, password: sim.password } });
    await until("offline", () => ing.status().reason === "camera-offline");
    expect(ing.status().detail).toContain("404");
    await ing.stop();
  }, 20_000);
});

describe("exit classification and SDP", () => {
  test("classifyExit maps rtspsrc errors to gap reasons", () => {
    expect(classifyExit(1, null, "ERROR: from element /GstPipeline:pipeline0/GstRTSPSrc:src: Unauthorized\nUnauthorized (401)").reason).toBe("auth-failed");
    expect(classifyExit(1, null, "ERROR: ... Could not open resource for reading and writing.").reason).toBe("camera-offline");
    expect(classifyExit(1, null, "ERROR: ... Could not read from resource.").reason).toBe("camera-offline");
    expect(classifyExit(0, null, "").reason).toBe("camera-offline");
    expect(classifyExit(null, "SIGKILL", "").reason).toBe("crash");
    const ts = classifyExit(1, null, "ERROR: from element /GstPipeline:pipeline0/GstMP4Mux:mux: Timestamping error on input streams\nAdditional debug info:\n../gst/x.c: Queued GOP time is negative");
    expect(ts.reason).toBe("crash");
    expect(ts.detail).toContain("Timestamping error");
  });

  test("parseSdp finds codecs, including static payload types and unsupported ones", () => {
    const h265 = parseSdp("v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\nm=audio 0 RTP/AVP 0\r\n");
    expect(h265.video).toBe("h265");
    expect(h265.audio).toBe("pcmu");
    const mjpeg = parseSdp("v=0\r\nm=video 0 RTP/AVP 26\r\n");
    expect(mjpeg.video).toBeUndefined();
    expect(mjpeg.unsupportedVideo).toBe("JPEG");
    const aac = parseSdp("m=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\nm=audio 0 RTP/AVP 97\na=rtpmap:97 MPEG4-GENERIC/16000/1\n");
    expect(aac.video).toBe("h264");
    expect(aac.audio).toBe("aac");
  });
});

/** A TCP relay to camsim whose connections the test can cut (both sides destroyed at once). */
async function resetProxy(targetPort: number): Promise<{ port: number; reset(): void; close(): void }> {
  const net = await import("node:net");
  const conns = new Set<import("node:net").Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    conns.add(client).add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as import("node:net").AddressInfo).port;
  return {
    port,
    reset() {
      for (const s of conns) s.resetAndDestroy?.() ?? s.destroy();
      conns.clear();
    },
    close() {
      for (const s of conns) s.destroy();
      server.close();
    },
  };
}
