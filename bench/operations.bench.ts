/**
 * Central operations benchmarks (issues 7, 13, 17), in-process on central's database
 * (central/db): embedded PGlite, and a real PostgreSQL 15 server (startPostgres) with --driver
 * server|both:
 *  1. events/s through 200 rules into alarms (ingest → rule index → alarm, stored and acknowledged);
 *  2. alarm list query latency with 1 M alarms (admin and a site-scoped operator), bulk-loaded
 *     with copyRows; the same-run baseline is the list's former store: the same rows in a DuckDB
 *     file (Appender), its whole-table sort + count;
 *  3. audit query by camera over 10 M records.
 *   bun bench/operations.bench.ts [--events 100000] [--alarms 1000000] [--audit 10000000] [--parts events,alarms,audit] [--driver embedded|server|both]
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { systemClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { Db, type AppendValue } from "../central/db.ts";
import { Users } from "../central/users/index.ts";
import { migrateUp, openServer, type Database, type SqlValue } from "../central/db/index.ts";
import { syncIdentity } from "../central/db/from-duckdb.ts";
import { startPostgres, testEmbedded, type TestPostgres } from "../central/db/testkit.ts";
import { Syslog } from "../central/syslog/index.ts";
import { startOperations } from "../central/events/operations.ts";
import { OperationsConfig } from "../central/events/config.ts";
import { Audit } from "../central/audit/index.ts";
import { AlarmQuery } from "../central/alarms/index.ts";
import type { RuleInput } from "../central/rules/index.ts";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    alarms: { type: "string", default: "1000000" },
    audit: { type: "string", default: "10000000" },
    parts: { type: "string", default: "events,alarms,audit" },
    driver: { type: "string", default: "embedded" },
  },
});
const PARTS = new Set(values.parts!.split(","));
const DRIVERS = values.driver === "both" ? ["embedded", "server"] : [values.driver!];
const EVENTS = Number(values.events);
const ALARMS = Number(values.alarms);
const AUDITS = Number(values.audit);
const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-bench-ops-"));
const log = new Logger({ component: "bench", sink: new MemorySink(), level: "error" });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
/** Results, each printed as it is measured (a long run shows what it has so far). */
const out = { push: (line: string) => console.log(line) };
let pg: TestPostgres | null = null;

async function open(driver: string, name: string): Promise<Database> {
  if (driver === "server") {
    pg ??= await startPostgres();
    return openServer(await pg.createDatabase());
  }
  return testEmbedded(path.join(root, `${name}-pg`));
}

async function stack(driver: string, name: string) {
  const database = await open(driver, name);
  await migrateUp(database);
  const users = new Users({ db: database, clock: systemClock, log, sessionTtlMs: 3_600_000 });
  await users.init();
  const syslog = new Syslog({ db: database, clock: systemClock, retentionDays: 30 });
  await syslog.init();
  const ops = await startOperations({ database, clock: systemClock, log, users, syslog, config: OperationsConfig.parse({}), auditHeadFile: path.join(root, `${name}-head.json`), publish: async () => {} });
  return { database, ops, syslog };
}

for (const driver of DRIVERS) {
// 1. events → 200 rules → alarms
if (PARTS.has("events")) {
  const { database, ops, syslog } = await stack(driver, `events-${driver}`);
  const sites = Array.from({ length: 50 }, (_, i) => `site-${i}`);
  await ops.rules.putProfile({ name: "always", windows: [{ days: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], from: "00:00", to: "24:00" }] });
  const types = ["motion", "input", "panic", "tamper", "camera.offline", "disk", "onvif", "external.door"];
  for (let i = 0; i < 200; i++) {
    const r: RuleInput = {
      id: `r${i}`,
      name: `rule ${i}`,
      match: { types: i % 10 === 0 ? [`${types[i % types.length]!.split(".")[0]}*`] : [types[i % types.length]!], sites: [sites[i % sites.length]!], ...(i % 3 === 0 ? { data: { zone: i % 4 } } : {}) },
      ...(i % 2 ? { timeProfile: "always" } : {}),
      actions: [{ kind: "alarm", priority: 1 + (i % 5) }],
    };
    await ops.rules.put(r);
  }
  const base = Date.now() - 3_600_000;
  const t0 = performance.now();
  const inflight = 2000;
  let pending: Promise<unknown>[] = [];
  for (let i = 0; i < EVENTS; i++) {
    pending.push(ops.ingestEvent({ id: `e${i}`, type: types[i % types.length]!, time: new Date(base + i).toISOString(), source: "edge", siteId: sites[i % sites.length]!, cameraId: `cam-${i % 400}`, data: { zone: i % 4 } }));
    if (pending.length >= inflight) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await ops.alarms.flush();
  // A rule whose burst used the reserved alarm ids up runs once the next ids arrive (central/rules/actions.ts): wait for those too.
  const alarmCount = async () => Number((await database.query<{ n: number }>(`SELECT count(*) AS n FROM alarms`))[0]!.n);
  for (let i = 0; i < 200 && (await alarmCount()) < ops.rules.stats.fired; i++) {
    await Bun.sleep(25);
    await ops.alarms.flush();
  }
  const s = (performance.now() - t0) / 1000;
  const n = await alarmCount();
  const ev = Number((await database.query<{ n: number }>(`SELECT count(*) AS n FROM events`))[0]!.n);
  out.push(`[${driver}] events→rules→alarms: ${EVENTS} events, 200 rules, ${ops.rules.stats.fired} rule firings, ${n} alarms stored, ${ev} events stored in ${s.toFixed(2)} s = ${Math.round(EVENTS / s)} events/s, ${Math.round(n / s)} alarms/s (stored and acknowledged)`);
  await ops.close();
  await syslog.close();
  await database.close();
}

// 2. alarm list with 1 M alarms
if (PARTS.has("alarms")) {
  const { database, ops, syslog } = await stack(driver, `alarms-${driver}`);
  // The baseline store: the same rows in DuckDB, as the list kept them before central/db.
  const duck = await Db.open(path.join(root, `alarms-${driver}.duckdb`));
  await duck.run(
    `CREATE TABLE alarms (id BIGINT NOT NULL, state VARCHAR NOT NULL, priority INTEGER NOT NULL, title VARCHAR NOT NULL, instructions VARCHAR NOT NULL, site_id VARCHAR, camera_id VARCHAR, event_id VARCHAR NOT NULL, event_type VARCHAR NOT NULL, event_ms BIGINT NOT NULL, late BOOLEAN NOT NULL, rule_id VARCHAR NOT NULL, assignee VARCHAR, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, clip VARCHAR, actions VARCHAR NOT NULL)`,
  );
  const cols = ["id", "state", "priority", "title", "instructions", "site_id", "camera_id", "event_id", "event_type", "event_ms", "late", "rule_id", "assignee", "created_ms", "updated_ms", "clip", "actions"];
  const BIGINT_COLUMNS = new Set([0, 9, 13, 14]); // id, event_ms, created_ms, updated_ms
  const t0 = performance.now();
  let duckMs = 0;
  const now = Date.now();
  const CH = 100_000;
  for (let off = 0; off < ALARMS; off += CH) {
    const rows: SqlValue[][] = [];
    for (let i = off; i < Math.min(ALARMS, off + CH); i++) {
      const st = i % 10 === 0 ? "new" : i % 10 === 1 ? "in-progress" : "closed";
      rows.push([i + 1, st, 1 + (i % 5), `alarm ${i}`, "", `site-${i % 500}`, `cam-${i % 4000}`, `e${i}`, "motion", now - (ALARMS - i) * 1000, false, `r${i % 200}`, st === "closed" || st === "in-progress" ? `op${i % 20}` : null, now, now, null, "[]"]);
    }
    await database.copyRows("alarms", cols, rows);
    const d0 = performance.now();
    await duck.append("alarms", rows.map((r) => r.map((v, c) => (BIGINT_COLUMNS.has(c) ? BigInt(v as number) : v)) as AppendValue[]));
    duckMs += performance.now() - d0;
  }
  await syncIdentity(database, "alarms", "id");
  const gen = (performance.now() - t0 - duckMs) / 1000;
  await ops.close();
  // PGlite runs no autovacuum: without statistics the planner guesses (measured both ways).
  const analyzeAfter = process.env.BENCH_NO_ANALYZE ? null : performance.now();
  if (analyzeAfter !== null) await database.exec(`ANALYZE alarms`);
  const analyzeMs = analyzeAfter === null ? null : performance.now() - analyzeAfter;
  const ops2 = await startOperations({ database, clock: systemClock, log, users: ops.users, syslog, config: OperationsConfig.parse({}), auditHeadFile: path.join(root, "a2.json"), publish: async () => {} });
  const admin = { user: "admin", grants: [{ rights: ["ack-alarms" as const], scope: "*" }] };
  const operator = { user: "op", grants: Array.from({ length: 20 }, (_, i) => ({ rights: ["ack-alarms" as const], scope: `site:site-${i}` })) };
  const cases: [string, typeof admin, Record<string, string>][] = [
    ["admin, newest 50", admin, {}],
    ["admin, state=new, by priority", admin, { state: "new", sort: "-priority" }],
    ["admin, camera filter", admin, { camera: "cam-17" }],
    ["admin, page 100 (offset 5000)", admin, { offset: "5000" }],
    ["operator of 20 sites, open alarms", operator, { state: "new,in-progress" }],
  ];
  // Baseline: DuckDB's whole-table sort and count (the former store, same rows, same run).
  const baseline = async () => {
    const rows = await duck.all<{ id: string }>(`SELECT * FROM alarms WHERE TRUE ORDER BY event_ms DESC, id DESC LIMIT $1 OFFSET $2`, [50n, 0n]);
    await duck.all(`SELECT count(*) AS n FROM alarms WHERE TRUE`);
    return rows;
  };
  for (const [name, who, q] of cases) {
    const times: number[] = [];
    const base: number[] = [];
    const query = AlarmQuery.parse(q);
    for (let i = 0; i < 43; i++) {
      const s = performance.now();
      const r = await ops2.alarms.list(query, ops2.rights.sqlScope(who));
      if (i >= 3) times.push(performance.now() - s);
      if (!r.alarms.length) throw new Error(`no rows for ${name}`);
      if (name !== "admin, newest 50") continue;
      if (r.total !== ALARMS) throw new Error(`total ${r.total}, not ${ALARMS}`);
      const b = performance.now();
      const rows = await baseline();
      if (i >= 3) base.push(performance.now() - b);
      if (JSON.stringify(rows.map((x) => Number(x.id))) !== JSON.stringify(r.alarms.map((a) => a.id))) throw new Error("newest page differs from DuckDB's whole-table sort");
    }
    const vs = base.length ? `; baseline DuckDB whole-table sort + count p50 ${pct(base, 50).toFixed(1)} ms, p95 ${pct(base, 95).toFixed(1)} ms` : "";
    out.push(`[${driver}] alarm list, ${ALARMS} alarms, ${name}: p50 ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms (incl. total)${vs}`);
  }
  const plan = await database.query<{ "QUERY PLAN": string }>(`EXPLAIN ANALYZE SELECT * FROM alarms WHERE TRUE ORDER BY event_ms DESC, id DESC LIMIT 50 OFFSET 0`);
  out.push(`  [${driver}] newest-50 plan: ${plan.map((r) => r["QUERY PLAN"].trim()).join(" | ")}`);
  out.push(`  [${driver}] (bulk-loaded ${ALARMS} alarms with copyRows in ${gen.toFixed(1)} s${analyzeMs === null ? "; no ANALYZE" : `; ANALYZE ${analyzeMs.toFixed(0)} ms`})`);
  await ops2.close();
  await syslog.close();
  await duck.close();
  await database.close();
}

// 3. audit query by camera over 10 M records
if (PARTS.has("audit")) {
  const database = await open(driver, `audit-${driver}`);
  await migrateUp(database);
  const t0 = performance.now();
  const CH = 100_000;
  const now = Date.now();
  const acts = ["playback", "view-live", "export", "login", "retrieval"];
  const cols = ["seq", "at_ms", "user_name", "action", "subject", "site_id", "camera_id", "from_ms", "to_ms", "outcome", "detail", "prev_hash", "hash"];
  for (let off = 0; off < AUDITS; off += CH) {
    const rows: SqlValue[][] = [];
    for (let i = off; i < Math.min(AUDITS, off + CH); i++) {
      const cam = i % 5 === 3 ? null : `cam-${i % 10_000}`;
      // Hashes are placeholders: this measures queries, not the chain (audit.test.ts covers that).
      rows.push([i + 1, now - (AUDITS - i) * 100, `user-${i % 300}`, acts[i % 5]!, null, cam && `site-${i % 1000}`, cam, cam && now - 60_000, cam && now, "ok", "{}", "x", "y"]);
    }
    await database.copyRows("audit_log", cols, rows);
  }
  await database.exec(`ANALYZE audit_log`);
  const gen = (performance.now() - t0) / 1000;
  const audit = new Audit({ db: database, clock: systemClock, log, headFile: path.join(root, "audit-head.json") });
  const cases: [string, Parameters<Audit["query"]>[0]][] = [
    ["by camera, newest 100", { camera: "cam-4242", limit: 100 }],
    ["by camera + time window (1 day)", { camera: "cam-4242", from: new Date(now - 86_400_000).toISOString(), to: new Date(now).toISOString(), limit: 100 }],
    ["by user, newest 100", { user: "user-7", limit: 100 }],
  ];
  for (const [name, q] of cases) {
    const times: number[] = [];
    for (let i = 0; i < 23; i++) {
      const s = performance.now();
      const r = await audit.query(q);
      if (i >= 3) times.push(performance.now() - s);
      if (!r.records.length) throw new Error(`no rows for ${name}`);
    }
    out.push(`[${driver}] audit query, ${AUDITS} records, ${name}: p50 ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms`);
  }
  out.push(`  [${driver}] (bulk-loaded ${AUDITS} audit records with copyRows in ${gen.toFixed(1)} s)`);
  await database.close();
}
}

await (pg as TestPostgres | null)?.stop();
await fs.rm(root, { recursive: true, force: true });
