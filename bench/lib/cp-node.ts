/**
 * One central node as its own process for the control-plane cluster benchmark
 * (bench/controlplane.bench.ts --part cluster): the composed central site (composeCentral) on
 * the given database (a PostgreSQL URL, or embedded PGlite when absent) and external broker,
 * with the scale benchmark's probe on its control plane (edge enqueue → stored, per status
 * report). Its own process so its CPU can be read from /proc/PID/stat apart from the other
 * nodes, the database, the broker and the load generator.
 *
 * Usage: bun cp-node.ts '{"dataDir":…,"brokerUrl":"mqtts://…","dbUrl":"postgres://…","nodeId":"node-1"}'
 * Prints "READY {json}", then answers one command per stdin line, one line each:
 *   reset                → "OK"            (clears the latencies and the counters' base)
 *   report               → "REPORT {json}"  (latencies since reset, messages stored, backlog, partitions)
 *   enroll N FROM DIR    → "ENROLLED {json}" (enrolls edges FROM … FROM+N-1 here, data dirs DIR/e<i>; json: their dirs)
 *   stop                 → closes the site and exits
 */
import "reflect-metadata";
import { rm } from "node:fs/promises";
import path from "node:path";
import { startCentralSite } from "../../central/main.ts";
import { enroll } from "../../edge/identity/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { quiet } from "../../tests/lib/cp.ts";

const o = JSON.parse(process.argv[2]!) as { dataDir: string; brokerUrl: string; dbUrl?: string; nodeId?: string };
// Warnings and errors kept (a step that stores nothing says why in its report); CPBENCH_LOG=1 prints them too.
const sink = new MemorySink();
const log = new Logger({ component: o.nodeId ?? "central", sink: process.env.CPBENCH_LOG ? { write: (r) => (sink.write(r), process.stderr.write(JSON.stringify(r) + "\n")) } : sink, level: "warn" });
const site = await startCentralSite(
  {
    dataDir: o.dataDir,
    api: { port: 0, plainHttp: true },
    enroll: { port: 0 },
    federation: { port: 0 },
    mqtt: { port: 0, url: o.brokerUrl },
    live: { rtsp: { enabled: false } },
    ...(o.dbUrl ? { database: { url: o.dbUrl } } : {}),
    ...(o.nodeId ? { cluster: { nodeId: o.nodeId } } : {}),
  },
  { log },
);
const control = site.sites.control;
let latencies: number[] = [];
let base = { ...control.stats };
control.onStored = (m) => {
  if (m.type === "health") latencies.push(m.storedAt - m.at);
};
const say = (line: string) => process.stdout.write(line + "\n");

async function enrollMany(n: number, from: number, root: string): Promise<void> {
  const dirs: string[] = [];
  for (let i = from; i < from + n; i += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, from + n - i) }, async (_, j) => {
        const t = await site.central.createEnrollmentToken(`load-${i + j}`);
        const dir = path.join(root, `e${i + j}`);
        await rm(dir, { recursive: true, force: true }); // left by an interrupted run
        await enroll({ centralUrl: site.central.enrollUrl, token: t.token, dataDir: dir, log: quiet("enroll") });
        return dir;
      }),
    );
    dirs.push(...batch);
  }
  say(`ENROLLED ${JSON.stringify(dirs)}`);
}

async function command(line: string): Promise<void> {
  const [cmd, ...args] = line.trim().split(" ");
  if (cmd === "reset") {
    latencies = [];
    base = { ...control.stats };
    control.stats.maxBatchMs = 0;
    say("OK");
  } else if (cmd === "report") {
    const s = control.stats;
    say(
      `REPORT ${JSON.stringify({
        latencies,
        applied: s.applied - base.applied,
        slowBatches: s.slowBatches - base.slowBatches,
        maxBatchMs: Math.round(s.maxBatchMs),
        backlog: control.backlog,
        partitions: site.cluster.leases.owned().size,
        failedBatches: s.failedBatches - base.failedBatches,
        // The last distinct warnings since start (the records grow slowly: warn and above only).
        warnings: [...new Set(sink.records.slice(-200).map((r) => `${r.level} ${r.msg}${r.err ? `: ${JSON.stringify(r.err).slice(0, 200)}` : ""}`))].slice(-5),
      })}`,
    );
  } else if (cmd === "enroll") {
    await enrollMany(Number(args[0]), Number(args[1]), args[2]!);
  } else if (cmd === "stop") {
    await site.close().catch(() => undefined);
    process.exit(0);
  }
}

say(`READY ${JSON.stringify({ pid: process.pid, partitions: site.cluster.leases.owned().size })}`);
let buf = "";
let chain = Promise.resolve();
for await (const chunk of Bun.stdin.stream()) {
  buf += new TextDecoder().decode(chunk);
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    chain = chain.then(() => command(line));
  }
}
await chain;
await site.close().catch(() => undefined);
process.exit(0);
