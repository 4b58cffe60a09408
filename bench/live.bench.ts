/**
 * Live benchmark (issue 6): camsim → edge → central → viewers, 10 cameras, sub stream.
 * Edge + central run in this process; viewers and the floor reader run in child processes
 * (bench/lib/live-probe.ts), so this process's CPU is edge + central only, and the per-viewer
 * increase is central's alone (the edge does nothing per viewer).
 *
 *  1. Open → first frame, cold, over an emulated 2 Mbit/s / 200 ms RTT edge↔central link
 *     (bench/lib/tunlink.py, TUN + netns, real kernel TCP end to end via bench/lib/fwd.ts in
 *     the namespace); floor: opening the camera's RTSP directly over the same link.
 *  2. Per-frame latency (loopback): for the same frame (RTP timestamp ↔ media decode time,
 *     anchored once per camera and checked on every keyframe), arrival at a WebSocket viewer
 *     and at an LL-HLS client (preload-hint part requests) minus arrival at a direct RTSP
 *     reader of the camera (the floor), all on one clock. Drift: first vs last minute.
 *  3. CPU / RSS of edge+central: idle, 10 uplinks + 10 viewers, + 90 viewers.
 * Needs root for 1 (skipped otherwise). Run: bun bench/live.bench.ts [--minutes 2]
 */
import "reflect-metadata";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type net from "node:net";
import { parseArgs } from "node:util";
import { startLiveRig, untilRecording } from "../central/live/testkit.ts";
import { TestViewer } from "../central/live/viewer.ts";
import { forward } from "./lib/fwd.ts";
import { rtspReader } from "./lib/live-probe.ts";
import { sameFrame, type Au, type Frag } from "./lib/live-analysis.ts";

const { values: args } = parseArgs({ options: { minutes: { type: "string", default: "2" }, cams: { type: "string", default: "10" } } });
const CAMS = Number(args.cams);
const RUN_MS = Number(args.minutes) * 60_000;
const RATE = 2_000_000;
const RTT = 200;
const CLK = 100;

type Cpu = { cpuPct: number; rssMB: number };
const ticks = async (pid: number) => {
  const st = (await Bun.file(`/proc/${pid}/stat`).text()).split(") ")[1]!.split(" ");
  return Number(st[11]) + Number(st[12]);
};
const rss = async (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(await Bun.file(`/proc/${pid}/status`).text())![1]) / 1024);
/** CPU % (of one core) and RSS of each pid over the same window. */
const cpu = async (ms: number, pids: number[]): Promise<Cpu[]> => {
  const a = await Promise.all(pids.map(ticks));
  await Bun.sleep(ms);
  const b = await Promise.all(pids.map(ticks));
  return Promise.all(pids.map(async (p, i) => ({ cpuPct: Math.round(((b[i]! - a[i]!) / CLK / (ms / 1000)) * 1000) / 10, rssMB: await rss(p) })));
};
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]! : NaN);
const r0 = (x: number) => Math.round(x);
const sh = async (...cmd: string[]) => {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(" ")}: ${await new Response(p.stderr).text()}`);
  return new Response(p.stdout).text();
};
/** Reads JSON lines from a child's stdout into `sink` (and resolves `ready` on a line starting with READY). */
const lines = (p: Bun.Subprocess<"pipe" | "ignore", "pipe", "inherit">, sink: (o: Record<string, unknown>) => void) => {
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  void (async () => {
    let buf = "";
    const dec = new TextDecoder();
    for await (const chunk of p.stdout) {
      buf += dec.decode(chunk);
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (l.startsWith("READY")) ready();
        else if (l.startsWith("{")) sink(JSON.parse(l) as Record<string, unknown>);
      }
    }
  })();
  return isReady;
};

const cleanups: (() => unknown)[] = [];
const cleanup = async () => {
  for (const c of cleanups.reverse()) await Promise.race([Promise.resolve(c()).catch(() => undefined), Bun.sleep(5000)]);
};
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

const rig = await startLiveRig({ cameras: CAMS, streams: ["sub"], sub: { width: 320, height: 180, bitrateKbps: 150 } });
cleanups.push(() => rig.close());
const result: Record<string, unknown> = { cameras: CAMS, stream: "sub 320x180 15 fps 150 kbit/s, GOP 1 s" };
try {
  await untilRecording(rig.edge, 60_000);
  const site = rig.identity.siteId;
  const ws = rig.central.apiUrl.replace(/^http/, "ws");
  const liveUrl = (i: number) => `${ws}/api/v1/cameras/${site}.cam${i}/live`;
  const fedPort = Number(new URL(rig.central.federationUrl).port);
  const tls = () => ({ ca: rig.identity.caPem, cert: rig.identity.certPem, key: rig.identity.keyPem });
  const idle = (await cpu(5000, [process.pid]))[0]!;

  // ---- 1. open → first frame over the emulated link (cold) ----
  if (process.getuid?.() === 0) {
    if ((await sh("ip", "route", "show")).includes("10.251.")) throw new Error("10.251.0.0/16 is in use (transfer bench running?): run one at a time");
    const NS = `olb${process.pid}`;
    const dir = await mkdtemp(path.join(tmpdir(), "outpost-live-bench-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await sh("ip", "netns", "add", NS);
    cleanups.push(() => sh("ip", "netns", "del", NS));
    const link = Bun.spawn(["/usr/bin/python3", path.join(import.meta.dir, "lib/tunlink.py"), NS, String(RATE), String(RTT), "0", String(Math.round((2 * RATE * RTT) / 8000))], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    cleanups.push(() => link.kill());
    await lines(link as never, () => undefined);
    const servers: net.Server[] = [];
    cleanups.push(() => servers.forEach((s) => s.close()));
    // central side of the link (root namespace): 10.251.1.1 → central's federation listener / the camera's RTSP
    const rtspPort = Number(new URL(rig.sim.cameras[0]!.rtspSub).port);
    const far = async (port: number) => {
      const s = await forward({ host: "10.251.1.1", port: 0 }, { host: "127.0.0.1", port });
      servers.push(s);
      return (s.address() as net.AddressInfo).port;
    };
    const near = async (name: string, farPort: number) => {
      // inside the namespace: unix socket → TCP over the link (the kernel TCP sees the real RTT)
      const sock = path.join(dir, name);
      const p = Bun.spawn(["ip", "netns", "exec", NS, "bun", path.join(import.meta.dir, "lib/fwd.ts"), `unix:${sock}`, `10.251.1.1:${farPort}`], { stdout: "pipe", stderr: "inherit" });
      cleanups.push(() => p.kill());
      await lines(p as never, () => undefined);
      const s = await forward({ host: "127.0.0.1", port: 0 }, { path: sock });
      servers.push(s);
      return (s.address() as net.AddressInfo).port;
    };
    const upPort = await near("up.sock", await far(fedPort));
    const camPort = await near("rtsp.sock", await far(rtspPort));
    rig.edge.live.setUplinkTarget({ url: () => `https://127.0.0.1:${upPort}`, tls, backoff: { minMs: 300, maxMs: 1000 } });
    const opens: number[] = [];
    const floors: number[] = [];
    for (let i = 1; i <= CAMS; i++) {
      // cold: no uplink running for any camera
      for (let w = 0; w < 100 && rig.edge.live.uplinks().some((u) => u.active); w++) await Bun.sleep(100);
      const t0 = performance.now();
      const v = new TestViewer(liveUrl(i), rig.token);
      while (v.fragments === 0 && performance.now() - t0 < 15_000) await Bun.sleep(2);
      if (v.fragments > 0) opens.push(performance.now() - t0);
      v.close();
      // floor: the camera's RTSP read directly over the same link until its first keyframe is complete
      const cam = rig.sim.cameras[i - 1]!;
      const t1 = performance.now();
      let conn: Awaited<ReturnType<typeof rtspReader>> | undefined;
      await new Promise<void>((res) => {
        const timer = setTimeout(res, 15_000);
        void rtspReader(cam.id, cam.rtspSub.replace(`:${rtspPort}/`, `:${camPort}/`), rig.sim.user, rig.sim.password, (a) => {
          if (!a.key) return;
          floors.push(performance.now() - t1);
          clearTimeout(timer);
          res();
        }).then((c) => (conn = c));
      });
      conn?.close();
    }
    const upStats = rig.edge.live.uplinks();
    result.openColdOverLink = {
      link: `${RATE / 1e6} Mbit/s, ${RTT} ms RTT (tunlink.py), edge↔central only`,
      n: opens.length,
      p50: r0(pct(opens, 0.5)),
      max: r0(Math.max(...opens)),
      floorRtspDirect: { n: floors.length, p50: r0(pct(floors, 0.5)), max: r0(Math.max(...floors)) },
      uplinkConnects: upStats.reduce((a, u) => a + u.connects, 0),
    };
    console.error("open over link:", JSON.stringify(result.openColdOverLink));
    for (let w = 0; w < 100 && rig.edge.live.uplinks().some((u) => u.active); w++) await Bun.sleep(100);
    rig.edge.live.setUplinkTarget({ url: () => `https://127.0.0.1:${rig.proxy.port}`, tls, backoff: { minMs: 300, maxMs: 1000 } });
  } else result.openColdOverLink = "skipped: needs root (network namespace + TUN)";

  // ---- 2. per-frame latency vs the floor, loopback, + drift ----
  const aus = new Map<string, Au[]>();
  const got = { ws: new Map<string, Frag[]>(), hls: new Map<string, Frag[]>() };
  const caps = new Map<string, { startMs: number; durationMs: number; capturedAt: number }[]>();
  const errors: string[] = [];
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  for (let i = 1; i <= CAMS; i++) {
    const cam = `cam${i}`;
    rig.live.hub(site, cam, "sub").listen((e) => {
      if (e.type === "fragment" && e.fragment.keyframe) push(caps, cam, { startMs: e.fragment.startMs, durationMs: e.fragment.durationMs, capturedAt: e.fragment.capturedAt });
    });
  }
  const probeArgs = {
    ws,
    token: rig.token,
    cams: rig.sim.cameras.map((c, i) => ({ id: c.id, live: liveUrl(i + 1), rtsp: c.rtspSub, user: rig.sim.user, password: rig.sim.password })),
    hls: { cam: rig.sim.cameras[0]!.id, url: `${rig.central.apiUrl}/api/v1/cameras/${site}.cam1/live.m3u8` },
  };
  const probe = Bun.spawn(["bun", path.join(import.meta.dir, "lib/live-probe.ts"), "probe", JSON.stringify(probeArgs)], { stdout: "pipe", stderr: "inherit" });
  cleanups.push(() => probe.kill());
  void lines(probe as never, (o) => {
    if (o.t === "au") push(aus, o.cam as string, o as unknown as Au);
    else if (o.t === "ws" || o.t === "hls") push(got[o.t], o.cam as string, o as unknown as Frag);
    else if (o.t === "error") errors.push(`${o.cam}: ${o.msg}`);
  });
  const t0 = Date.now();
  const startAt = performance.timeOrigin + performance.now();
  await Bun.sleep(20_000);
  const [ten, probeCpu] = (await cpu(10_000, [process.pid, probe.pid])) as [Cpu, Cpu];
  await Bun.sleep(Math.max(0, RUN_MS - (Date.now() - t0)));
  const tEnd = Date.now();
  const endAt = performance.timeOrigin + performance.now();

  // ---- 3. + 90 viewers (their own process) ----
  const more = Bun.spawn(["bun", path.join(import.meta.dir, "lib/live-probe.ts"), "viewers", JSON.stringify({ token: rig.token, urls: Array.from({ length: 90 }, (_, i) => liveUrl((i % CAMS) + 1)) })], {
    stdout: "pipe",
    stderr: "inherit",
  });
  cleanups.push(() => more.kill());
  let receiving = 0;
  void lines(more as never, (o) => o.t === "count" && (receiving = o.receiving as number));
  await Bun.sleep(4000);
  const [hundred, , moreCpu] = (await cpu(10_000, [process.pid, probe.pid, more.pid])) as [Cpu, Cpu, Cpu];
  const pl = await (await fetch(probeArgs.hls.url, { headers: { authorization: `Bearer ${rig.token}` } })).text();
  const partHoldBackMs = Number(/PART-HOLD-BACK=([\d.]+)/.exec(pl)?.[1] ?? NaN) * 1000;
  probe.kill();
  more.kill();

  if (process.env.LIVE_BENCH_DUMP) await Bun.write(process.env.LIVE_BENCH_DUMP, JSON.stringify({ aus: [...aus], ws: [...got.ws], hls: [...got.hls], caps: [...caps] }));
  // ---- analysis: same frame at the viewer and at the floor reader (bench/lib/live-analysis.ts) ----
  // ---- analysis: same frame at the viewer and at the floor reader ----
  const perFrame = (src: Map<string, Frag[]>, from: number, to: number) => sameFrame({ aus, caps }, src, from, to);
  const ws10 = perFrame(got.ws, 0, endAt);
  const hls = perFrame(got.hls, 0, endAt);
  result.latencyVsFloorMs = {
    method: "same frame: arrival at viewer − arrival of its last RTP packet at a direct RTSP reader of the camera; loopback; 10 uplinks, 10 WS viewers + 1 LL-HLS client",
    mseWebSocket: ws10,
    llHlsPartDelivery: hls,
    llHlsPartHoldBackMs: partHoldBackMs,
    llHlsPlayerEstimateP50: r0(hls.p50 + partHoldBackMs),
    wsUnder100Viewers: perFrame(got.ws, endAt, Infinity),
  };
  const minute = 60_000;
  result.drift = {
    runMs: RUN_MS,
    firstMinute: perFrame(got.ws, startAt, startAt + minute),
    lastMinute: perFrame(got.ws, endAt - minute, endAt),
  };
  result.cpu = {
    note: "this process = edge + central (camsim and viewers are other processes); % of one core",
    idle,
    uplinks10viewers10: ten,
    uplinks10viewers100: hundred,
    viewerProcesses: { probe10wsHls1Rtsp10: probeCpu, viewers90: moreCpu },
    perUplinkEdgePlusCentralPct: Math.round(((ten.cpuPct - idle.cpuPct) / CAMS) * 100) / 100,
    perViewerCentralPct: Math.round(((hundred.cpuPct - ten.cpuPct) / 90) * 100) / 100,
    perViewerCentralRssKB: Math.round(((hundred.rssMB - ten.rssMB) * 1024) / 90),
    viewers90Receiving: receiving,
  };
  result.uplinkConnects = rig.edge.live.uplinks().reduce((a, u) => a + u.connects, 0);
  if (errors.length) result.errors = errors;
  console.log(JSON.stringify(result, null, 1));
} finally {
  await cleanup();
  // child stdout readers and forwarders would keep the event loop alive
  process.exit(0);
}
