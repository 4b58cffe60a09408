/**
 * Trust benchmarks (issue 3): enrollment end to end on loopback, mTLS vs plain TLS handshakes
 * per second in the same run, and how many idle mTLS MQTT sessions one central holds.
 * Central runs as `outpost central` in a child process so its CPU and RSS are its own.
 *   bun bench/trust.bench.ts [--sessions 2000] [--enrollments 20] [--seconds 3]
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { parseArgs } from "node:util";
import mqtt from "mqtt";
import { createToken } from "../central/journal.ts";
import { dataPaths } from "../central/files.ts";
import { certFingerprint, createCa, generateKeyPair, issueServerCert, issueSiteCert } from "../federation/pki.ts";
import { enroll, mqttClientOptions, type Identity } from "../edge/identity/index.ts";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "2000" }, enrollments: { type: "string", default: "20" }, seconds: { type: "string", default: "3" } } });
const SESSIONS = Number(values.sessions);
const ENROLLS = Number(values.enrollments);
const SECONDS = Number(values.seconds);
const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-bench-trust-"));
const rows: [string, string, string][] = [];
const clk = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

async function procStat(pid: number): Promise<{ cpuS: number; rssMb: number }> {
  const stat = (await fs.readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuS: (Number(stat[11]) + Number(stat[12])) / clk, rssMb: rssKb / 1024 };
}

// ---- 1. handshakes/s: mTLS vs plain TLS, same process, same key type, sequential (one core)
{
  const now = Date.now();
  const ca = await createCa({ name: "bench", now, lifetimeDays: 10 });
  const skp = await generateKeyPair();
  const server = await issueServerCert({ ca, publicKey: skp.keys.publicKey, now, lifetimeDays: 5, names: ["localhost", "127.0.0.1"] });
  const ckp = await generateKeyPair();
  const client = await issueSiteCert({ ca, publicKey: ckp.keys.publicKey, now, lifetimeDays: 5, siteId: "bench" });
  const base = { key: skp.keyPem, cert: server.toString("pem"), minVersion: "TLSv1.2" as const };
  async function rate(mutual: boolean): Promise<number> {
    const srv = tls.createServer(mutual ? { ...base, ca: ca.certPem, requestCert: true, rejectUnauthorized: true } : base, (s) => s.end("x"));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as { port: number }).port;
    let n = 0;
    const end = performance.now() + SECONDS * 1000;
    while (performance.now() < end) {
      await new Promise<void>((resolve, reject) => {
        const s = tls.connect({ host: "127.0.0.1", port, ca: ca.certPem, servername: "localhost", ...(mutual ? { cert: client.toString("pem"), key: ckp.keyPem } : {}) });
        s.once("data", () => (s.destroy(), resolve()));
        s.once("error", reject);
      });
      n++;
    }
    await new Promise<void>((r) => srv.close(() => r()));
    return n / SECONDS;
  }
  const plain = await rate(false);
  const mutual = await rate(true);
  rows.push(["TLS handshakes/s, plain (server-auth), client+server in one process", plain.toFixed(0), "ECDSA P-256, TLS 1.3, sequential"]);
  rows.push(["TLS handshakes/s, mTLS (client cert verified)", mutual.toFixed(0), `ratio mTLS/plain ${(mutual / plain).toFixed(2)}`]);
}

// ---- central in a child process
const cfgFile = path.join(root, "central.yaml");
await fs.writeFile(cfgFile, `dataDir: ${path.join(root, "central")}\napi: {port: 0}\nenroll: {port: 0}\nfederation: {port: 0}\nmqtt: {port: 0}\n`);
const proc = Bun.spawn(["bun", path.join(import.meta.dir, "..", "cli", "outpost.ts"), "central", "--config", cfgFile], {
  env: { ...process.env, OUTPOST_LOG_LEVEL: "warn" },
  stdout: "pipe",
  stderr: "inherit",
});
const clients: mqtt.MqttClient[] = [];
try {
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("CA fingerprint")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("central exited");
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const enrollUrl = /enrollment\s+(\S+)/.exec(out)![1]!;
  const p = dataPaths(path.join(root, "central"));
  const fp = await certFingerprint(await fs.readFile(p.caCert, "utf8"));
  const token = (name: string) => createToken(p.tokens, { site: name, ttlHours: 1, now: Date.now(), caFingerprint: fp }).then((t) => t.token);

  // ---- 2. enrollment end to end (token already made; keygen + CA fetch + CSR + issue + store)
  const times: number[] = [];
  for (let i = 0; i < ENROLLS; i++) {
    const t = await token(`enroll-${i}`);
    const t0 = performance.now();
    await enroll({ centralUrl: enrollUrl, token: t, dataDir: path.join(root, "e", `enroll-${i}`) });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  rows.push(["enrollment end to end on loopback, median", `${times[Math.floor(times.length / 2)]!.toFixed(1)} ms`, `n=${ENROLLS}, p90 ${times[Math.floor(times.length * 0.9)]!.toFixed(1)} ms, first ${times[0]!.toFixed(1)} ms (min)`]);

  // ---- 3. idle mTLS MQTT sessions
  const ids: Identity[] = [];
  const tEnroll = performance.now();
  for (let i = 0; i < SESSIONS; i += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, SESSIONS - i) }, async (_, j) => enroll({ centralUrl: enrollUrl, token: await token(`s-${i + j}`), dataDir: path.join(root, "s", `s-${i + j}`) })),
    );
    ids.push(...batch);
  }
  const enrollAllS = (performance.now() - tEnroll) / 1000;
  const before = await procStat(proc.pid);
  const tConn = performance.now();
  let failed = 0;
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(
      ids.slice(i, i + 50).map(async (id) => {
        try {
          const c = await mqtt.connectAsync(id.mqttUrl, { ...mqttClientOptions(id), keepalive: 30, reconnectPeriod: 0, connectTimeout: 30_000 });
          clients.push(c);
        } catch {
          failed++;
        }
      }),
    );
  }
  const connS = (performance.now() - tConn) / 1000;
  const afterConnect = await procStat(proc.pid);
  const idleWindow = 40; // > keepalive: every client sends PINGREQ at least once
  await Bun.sleep(idleWindow * 1000);
  const afterIdle = await procStat(proc.pid);
  const alive = clients.filter((c) => c.connected).length;
  rows.push([`idle mTLS MQTT sessions held (keepalive 30 s, ${idleWindow} s idle)`, `${alive} / ${SESSIONS}`, `${failed} failed to connect`]);
  rows.push(["  connect rate (50 concurrent)", `${(clients.length / connS).toFixed(0)} conn/s`, `central CPU ${(afterConnect.cpuS - before.cpuS).toFixed(1)} s for ${clients.length} handshakes+CONNECTs`]);
  rows.push(["  central RSS with sessions open", `${afterIdle.rssMb.toFixed(0)} MB`, `${before.rssMb.toFixed(0)} MB before connecting; ${(((afterIdle.rssMb - before.rssMb) * 1024) / Math.max(1, alive)).toFixed(0)} kB/session`]);
  rows.push(["  central CPU while idle", `${(((afterIdle.cpuS - afterConnect.cpuS) / idleWindow) * 100).toFixed(1)} % of a core`, "keepalive traffic only"]);
  rows.push(["  (setup) enrolling the session sites", `${enrollAllS.toFixed(1)} s`, `${SESSIONS} sites, 16 at a time`]);
} finally {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  proc.kill("SIGTERM");
  await proc.exited;
  await fs.rm(root, { recursive: true, force: true });
}

console.log(`\n## Trust (Bun ${Bun.version}, ${os.cpus().length} cores)\n\n| measure | value | notes |\n| --- | --- | --- |`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
