/**
 * Issue 17, the embedded database: how long central's HTTP waits while the embedded database
 * runs a long statement, with `database.embedded: inline` (PGlite on central's event loop) and
 * `process` (PGlite in a child process, pglite-process.ts), on the whole composed central.
 *   bun bench/db-event-loop.bench.ts [--rows 100000] [--small 2000] [--modes inline,process]
 *
 * idle:        GET /api/v1/health p50 with nothing else running
 * copyRows:    copyRows of --rows rows (3 columns) into a scratch table — the statement's time,
 *              and the slowest health answer while it runs (one request every 10 ms)
 * long query:  one statement of ~5 M joined rows (pure PostgreSQL work), same measures
 * small query: p50 / p99 of --small sequential primary-key SELECTs on `users`
 * open:        opening the existing data directory again (the second start of central)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { CentralConfig } from "../central/index.ts";
import { composeCentral } from "../central/compose.ts";
import { openEmbedded, openEmbeddedProcess, type Database } from "../central/db/index.ts";
import { pgliteTemplateDir } from "../central/db/testkit.ts";

const { values } = parseArgs({ options: { rows: { type: "string", default: "100000" }, small: { type: "string", default: "2000" }, modes: { type: "string", default: "inline,process" } } });
const ROWS = Number(values.rows);
const SMALL = Number(values.small);
const modes = values.modes.split(",") as ("inline" | "process")[];
process.env.PGLITE_TEMPLATE_DIR ??= pgliteTemplateDir(); // a fresh data dir copies the initialized template
const log = new Logger({ component: "bench", sink: new MemorySink(), level: "error" });
const root = await mkdtemp(path.join(tmpdir(), "outpost-bench-dbloop-"));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (x: number) => x.toFixed(1);

async function health(url: string): Promise<number> {
  const t = performance.now();
  const r = await fetch(`${url}/api/v1/health`);
  await r.arrayBuffer();
  if (!r.ok) throw new Error(`health ${r.status}`);
  return performance.now() - t;
}

/** The statement's duration and the health answers (ms each) while it ran. */
async function during(url: string, statement: () => Promise<unknown>): Promise<{ statementMs: number; worst: number; answers: number }> {
  let done = false;
  const lat: number[] = [];
  const t = performance.now();
  const run = statement().then(() => {
    done = true;
    return performance.now() - t;
  });
  // One request every 10 ms, as a client polling would: not back to back, which would take
  // the CPU the statement needs (the machine has 2 cores).
  while (!done) {
    lat.push(await health(url));
    await Bun.sleep(10);
  }
  return { statementMs: await run, worst: Math.max(...lat), answers: lat.length };
}

const rows: string[] = [];
for (const mode of modes) {
  const dataDir = path.join(root, mode);
  const cfg = CentralConfig.parse({ dataDir, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } }, storage: { minFreeBytes: 0 }, database: { embedded: mode } });
  const site = await composeCentral(cfg, { log });
  const url = site.central.apiUrl;
  const db = site.central.database;
  try {
    await db.exec(`CREATE TABLE bench_copy (id integer, label text, at_ms bigint)`);
    for (let i = 0; i < 50; i++) await health(url);
    const idle: number[] = [];
    for (let i = 0; i < 200; i++) idle.push(await health(url));
    const data = Array.from({ length: ROWS }, (_, i) => [i, `row ${i} of the bench, some text`, 1_764_800_000_000 + i]);
    const copy = await during(url, () => db.copyRows("bench_copy", ["id", "label", "at_ms"], data));
    const long = await during(url, () => db.query(`SELECT count(*) FROM generate_series(1, 50000) a, generate_series(1, 100) b`));
    const small: number[] = [];
    for (let i = 0; i < SMALL; i++) {
      const t = performance.now();
      await db.query(`SELECT name FROM users WHERE name = $1`, ["admin"]);
      small.push(performance.now() - t);
    }
    rows.push(
      `| ${mode} | ${ms(pct(idle, 50))} | ${ms(copy.statementMs)} | ${ms(copy.worst)} (${copy.answers}) | ${ms(long.statementMs)} | ${ms(long.worst)} (${long.answers}) | ${ms(pct(small, 50))} / ${ms(pct(small, 99))} |`,
    );
  } finally {
    await site.close();
  }
  // The second start: reopen the same data directory the way this mode does.
  const t = performance.now();
  const again: Database = mode === "process" ? await openEmbeddedProcess(path.join(dataDir, "pg")) : await openEmbedded(path.join(dataDir, "pg"));
  const openMs = performance.now() - t;
  await again.close();
  rows[rows.length - 1] += ` ${Math.round(openMs)} |`;
}
console.log(`\n${ROWS.toLocaleString("en")} rows copied; ${SMALL} small queries; ${new Date().toISOString()}\n`);
console.log("| mode | health idle p50 ms | copyRows ms | worst health during copy ms (answers) | long query ms | worst health during query ms (answers) | small query p50 / p99 ms | reopen ms |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
await rm(root, { recursive: true, force: true });
process.exit(0);
