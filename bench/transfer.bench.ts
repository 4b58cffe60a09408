/**
 * Transfer benchmark: backfill goodput ÷ link rate over an emulated 2 Mbit/s, 200 ms RTT link
 * (bench/lib/tunlink.py: TUN devices + userspace rate/delay/queue, because netem is not
 * available; the edge runs in its own network namespace so TCP runs end to end), clean, with
 * 2 % random loss (nft `numgen random` drop inside the namespace), and under 20 s up / 5 s down
 * outages; each compared with curl uploading the same segment files one by one in the same run.
 * Also bytes on the link (TCP payload and IP) ÷ video bytes delivered. Needs root.
 *
 * Run: bun bench/transfer.bench.ts [--mb 6] [--cc bbr|cubic] [--only clean,loss,flaps]
 */
import "reflect-metadata";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ManualClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { feed, makeMedia } from "../lib/store/testdata/media.ts";
import { startCentralSite } from "../central/main.ts";
import { enroll } from "../edge/identity/index.ts";
import { H, chunkHashes, DEFAULT_CHUNK_SIZE } from "../federation/transfer/index.ts";

const { values: args } = parseArgs({ options: { mb: { type: "string", default: "6" }, cc: { type: "string", default: "bbr" }, only: { type: "string", default: "clean,loss,flaps" } } });
const RATE = 2_000_000;
const RTT = 200;
const quiet = (c: string) => new Logger({ component: c, sink: new MemorySink(), level: "error" });
const sh = async (...cmd: string[]) => {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const code = await p.exited;
  if (code !== 0) throw new Error(`${cmd.join(" ")}: ${await new Response(p.stderr).text()}`);
  return new Response(p.stdout).text();
};

const root = await mkdtemp(path.join(tmpdir(), "outpost-transfer-bench-"));
const NS = `otb${process.pid}`;
const cleanups: (() => Promise<unknown> | unknown)[] = [() => rm(root, { recursive: true, force: true })];
// Each step gets a few seconds: a listener waiting on a half-open connection must not keep the namespace alive.
const cleanup = async () => {
  for (const c of cleanups.reverse()) await Promise.race([Promise.resolve(c()).catch(() => undefined), Bun.sleep(5000)]);
};
process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
process.on("SIGTERM", () => void cleanup().then(() => process.exit(143)));

try {
  if ((await sh("ip", "route", "show")).includes("10.251.")) throw new Error("10.251.0.0/16 is in use (another transfer bench running?): run one at a time");
  await sh("ip", "netns", "add", NS);
  cleanups.push(() => sh("ip", "netns", "del", NS));
  await sh("ip", "netns", "exec", NS, "sysctl", "-qw", `net.ipv4.tcp_congestion_control=${args.cc}`);
  const link = Bun.spawn(["/usr/bin/python3", path.join(import.meta.dir, "lib/tunlink.py"), NS, String(RATE), String(RTT), "0", String(Math.round((2 * RATE * RTT) / 8000))], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  cleanups.push(() => link.kill());
  const linkOut = link.stdout.getReader();
  let linkBuf = "";
  const linkLine = async (prefix: string) => {
    for (;;) {
      const i = linkBuf.split("\n").findIndex((l) => l.startsWith(prefix));
      if (i >= 0) {
        const lines = linkBuf.split("\n");
        const l = lines[i]!;
        linkBuf = lines.slice(i + 1).join("\n");
        return l;
      }
      const { done, value } = await linkOut.read();
      if (done) throw new Error("tunlink exited");
      linkBuf += new TextDecoder().decode(value);
    }
  };
  await linkLine("READY");
  const linkCmd = async (c: string) => {
    link.stdin.write(c + "\n");
    await link.stdin.flush();
  };
  const linkStats = async () => {
    await linkCmd("stats");
    return JSON.parse((await linkLine("STATS ")).slice(6)) as { up: { bytes: number; payload: number; dropped: number } };
  };

  // Central on the namespace-facing address (10.251.1.1 exists now), user API on loopback.
  const dataDir = path.join(root, "central");
  // The composed central (composeCentral); the bench edge is a bare store without custody or live.
  const centralSite = await startCentralSite(
    { dataDir, api: { port: 0 }, enroll: { port: 0 }, federation: { host: "10.251.1.1", port: 0 }, mqtt: { host: "10.251.1.1", port: 0 }, tls: { serverNames: ["10.251.1.1", "127.0.0.1", "localhost"] }, live: { rtsp: { enabled: false } } },
    { log: quiet("central"), transfer: { tickMs: 300, verifyCustody: false, recordLive: false } },
  );
  cleanups.push(() => centralSite.close());
  const { central, transfer: tr, sites } = centralSite;

  // Recorded footage on the edge (4 s segments of a ~1.4 Mbit/s clip), made before the edge starts.
  const media = await makeMedia(root, 4);
  const src = path.join(root, "src.mp4");
  const edgeDir = path.join(root, "edge");
  const t = await central.createEnrollmentToken("bench-bus");
  const id = await enroll({ centralUrl: central.enrollUrl.replace("10.251.1.1", "127.0.0.1"), token: t.token, dataDir: edgeDir, log: quiet("enroll") });
  const site = id.siteId;
  await sites.setDesired(site, { policy: { options: ["both"] } } as never, "bench");
  const targetBytes = Number(args.mb) * 1e6;
  const clock = new ManualClock(Date.now() - 3_600_000);
  const store = await MediaStore.open({ root: path.join(edgeDir, "store"), clock, log: quiet("store"), segmentDurationMs: 4000, minFreeBytes: 0 });
  const cams = ["c-clean", "c-loss", "c-flaps"];
  const perCam: Record<string, number> = {};
  for (const [i, cam] of cams.entries()) {
    const w = store.writer(cam, "main");
    w.init(media.init, media.info);
    const base = clock.now() + i * 600_000;
    const want = cam === "c-flaps" ? 2 * targetBytes : targetBytes;
    let n = 0;
    for (;;) {
      await feed(w, media, clock, base, n, n + 8);
      n += 8;
      const segs = await store.segments({ cameraId: cam, stream: "main", fromMs: 0, toMs: 4e12 });
      if (segs.filter((s) => !s.open).reduce((a, s) => a + s.bytes, 0) >= want) break;
    }
    await w.end("stopped", "bench");
    perCam[cam] = (await store.segments({ cameraId: cam, stream: "main", fromMs: 0, toMs: 4e12 })).reduce((a, s) => a + s.bytes, 0);
  }
  const segsOf = async (cam: string) => (await store.segments({ cameraId: cam, stream: "main", fromMs: 0, toMs: 4e12 })).filter((s) => !s.open);
  const files: Record<string, { path: string; bytes: number; sha256: string; startMs: number }[]> = {};
  for (const cam of cams) files[cam] = (await segsOf(cam)).map((s) => ({ path: store.absPath(s), bytes: s.bytes, sha256: s.sha256!, startMs: s.startMs }));
  await store.close();
  await writeFile(path.join(root, "ca.pem"), id.caPem);
  await writeFile(path.join(root, "cert.pem"), id.certPem);
  await writeFile(path.join(root, "key.pem"), id.keyPem);

  // Policy per scenario camera: only the running scenario's camera is wanted (others are edge-only).
  const only = (cam: string) => sites.setDesired(site, { policy: { options: ["edge-only"], cameras: { [cam]: { options: ["both"] } } } } as never, "bench");
  await only("none-yet");
  const fedPort = Number(new URL(central.federationUrl).port);
  const edge = Bun.spawn(
    ["ip", "netns", "exec", NS, "bun", path.join(import.meta.dir, "../tests/lib/transfer-edge.ts"), JSON.stringify({ dir: edgeDir, mqttUrl: central.mqttUrl, federationUrl: central.federationUrl, src, cameras: cams, record: false, segmentMs: 4000, link: "cellular" })],
    { stdin: "pipe", stdout: "ignore", stderr: "inherit" },
  );
  cleanups.push(() => edge.kill(9));
  // Outages: 20 s up / 5 s down; down time is accounted exactly for the share of up-time capacity.
  const flapper = { timer: null as ReturnType<typeof setTimeout> | null, downSince: 0, downMs: 0 };
  const flap = (on: boolean): (() => number) => {
    if (flapper.timer) clearTimeout(flapper.timer);
    flapper.timer = null;
    if (flapper.downSince) flapper.downMs += Date.now() - flapper.downSince;
    flapper.downSince = 0;
    void linkCmd("up");
    const started = Date.now();
    if (on) {
      flapper.downMs = 0;
      const step = (up: boolean) => {
        flapper.timer = setTimeout(() => {
          if (up) {
            flapper.downSince = Date.now();
            void linkCmd("down");
          } else {
            flapper.downMs += Date.now() - flapper.downSince;
            flapper.downSince = 0;
            void linkCmd("up");
          }
          step(!up);
        }, up ? 20_000 : 5_000);
      };
      step(true);
    }
    /** Share of the time since start the link was up. */
    return () => 1 - (flapper.downMs + (flapper.downSince ? Date.now() - flapper.downSince : 0)) / (Date.now() - started);
  };
  const lossOn = async (pct: number) => {
    await sh("ip", "netns", "exec", NS, "nft", "add", "table", "inet", "otbloss");
    await sh("ip", "netns", "exec", NS, "nft", "add", "chain", "inet", "otbloss", "out", "{ type filter hook output priority 0; }");
    await sh("ip", "netns", "exec", NS, "nft", "add", "chain", "inet", "otbloss", "in", "{ type filter hook input priority 0; }");
    await sh("ip", "netns", "exec", NS, "nft", "add", "rule", "inet", "otbloss", "out", "ip", "daddr", "10.251.1.1", "numgen", "random", "mod", "100", "<", String(pct), "drop");
    await sh("ip", "netns", "exec", NS, "nft", "add", "rule", "inet", "otbloss", "in", "ip", "saddr", "10.251.1.1", "numgen", "random", "mod", "100", "<", String(pct), "drop");
  };
  const lossOff = () => sh("ip", "netns", "exec", NS, "nft", "delete", "table", "inet", "otbloss").catch(() => undefined);
  cleanups.push(lossOff);

  const results: Record<string, unknown>[] = [];
  const committed = async () => Number((await tr.engine.budget.siteTransfer(site)).commits);

  async function engineRun(cam: string) {
    const before = await committed();
    const n = files[cam]!.length;
    const s0 = await linkStats();
    await only(cam);
    let t0 = 0;
    const startBytes = tr.receiver.stats.bytesReceived;
    const startWall = Date.now();
    for (;;) {
      if (!t0 && tr.receiver.stats.bytesReceived > startBytes) t0 = Date.now();
      if ((await committed()) - before >= n) break;
      if (Date.now() - startWall > 600_000) throw new Error(`${cam}: not done after 10 min`);
      await Bun.sleep(100);
    }
    const t1 = Date.now();
    const s1 = await linkStats();
    return { seconds: (t1 - t0) / 1000, payload: s1.up.payload - s0.up.payload, ip: s1.up.bytes - s0.up.bytes, dropped: s1.up.dropped - s0.up.dropped };
  }

  async function curlRun(cam: string) {
    const s0 = await linkStats();
    const t0 = Date.now();
    let attempts = 0;
    let k = 0;
    for (const f of files[cam]!) {
      for (;;) {
        attempts++;
        k++;
        const hashes = chunkHashes(new Uint8Array(await Bun.file(f.path).arrayBuffer()), DEFAULT_CHUNK_SIZE);
        const url = `${central.federationUrl}/federation/v1/transfer/segments/curl-${cam}/main/${f.startMs + k}`;
        const p = Bun.spawn(
          ["ip", "netns", "exec", NS, "curl", "-sS", "--fail", "--max-time", "120", "--cacert", path.join(root, "ca.pem"), "--cert", path.join(root, "cert.pem"), "--key", path.join(root, "key.pem"), "-X", "PUT",
            "-H", `${H.offset}: 0`, "-H", `${H.bytes}: ${f.bytes}`, "-H", `${H.sha256}: ${f.sha256}`, "-H", `${H.chunkSize}: ${DEFAULT_CHUNK_SIZE}`, "-H", `${H.chunks}: ${hashes.join(",")}`, "-H", "content-type: application/octet-stream",
            "--data-binary", `@${f.path}`, url],
          { stdout: "pipe", stderr: "pipe" },
        );
        if ((await p.exited) === 0 && (await new Response(p.stdout).text()).includes('"committed":true')) break;
      }
    }
    const t1 = Date.now();
    const s1 = await linkStats();
    return { seconds: (t1 - t0) / 1000, payload: s1.up.payload - s0.up.payload, ip: s1.up.bytes - s0.up.bytes, attempts };
  }

  const report = (name: string, video: number, r: { seconds: number; payload: number; ip: number }, capacityBps: number, extra: Record<string, unknown> = {}) => {
    const goodput = (video * 8) / r.seconds;
    const row = { scenario: name, videoMB: +(video / 1e6).toFixed(2), seconds: +r.seconds.toFixed(1), goodputMbps: +(goodput / 1e6).toFixed(3), goodputOverCapacity: +(goodput / capacityBps).toFixed(3), payloadOverVideo: +(r.payload / video).toFixed(4), ipOverVideo: +(r.ip / video).toFixed(4), ...extra };
    results.push(row);
    console.log(JSON.stringify(row));
  };

  const wanted = new Set(args.only!.split(","));
  await Bun.sleep(3000); // edge up: MQTT, first work poll
  if (wanted.has("clean")) {
    report("engine, clean", perCam["c-clean"]!, await engineRun("c-clean"), RATE);
    report("curl one by one, clean", perCam["c-clean"]!, await curlRun("c-clean"), RATE);
  }
  if (wanted.has("loss")) {
    await lossOn(2);
    report(`engine, 2% loss (${args.cc})`, perCam["c-loss"]!, await engineRun("c-loss"), RATE);
    report(`curl one by one, 2% loss (${args.cc})`, perCam["c-loss"]!, await curlRun("c-loss"), RATE);
    await lossOff();
  }
  if (wanted.has("flaps")) {
    let share = flap(true);
    const r = await engineRun("c-flaps");
    const upShare = share();
    flap(false);
    report("engine, 20 s up / 5 s down", perCam["c-flaps"]!, r, RATE * upShare, { upShare: +upShare.toFixed(3) });
    share = flap(true);
    const c = await curlRun("c-flaps");
    const upC = share();
    flap(false);
    report("curl one by one, 20 s up / 5 s down", perCam["c-flaps"]!, c, RATE * upC, { upShare: +upC.toFixed(3), attempts: c.attempts });
  }
  console.log(JSON.stringify({ link: { rateBps: RATE, rttMs: RTT }, congestionControl: args.cc, chunk: DEFAULT_CHUNK_SIZE, results }, null, 1));
} finally {
  await cleanup();
  process.exit(process.exitCode ?? 0);
}
