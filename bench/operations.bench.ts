/**
 * Central operations benchmarks (issue 7), in-process on a real DuckDB file:
 *  1. events/s through 200 rules into alarms (ingest → rule index → alarm, stored and acknowledged);
 *  2. alarm list query latency with 1 M alarms (admin and a site-scoped operator);
 *  3. audit query by camera over 10 M records (generated with the Appender).
 * The alarm list runs its baseline in the same run: the plain whole-table sort (the query before
 * the time-bounded newest page), on the same file.
 *   bun bench/operations.bench.ts [--events 100000] [--alarms 1000000] [--audit 10000000] [--parts events,alarms,audit]
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { systemClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { Db, type AppendValue } from "../central/db.ts";
import { Users } from "../central/users/index.ts";
import { migrateUp } from "../central/db/index.ts";
import { testEmbedded } from "../central/db/testkit.ts";
import { Syslog } from "../central/syslog/index.ts";
import { startOperations } from "../central/events/operations.ts";
import { OperationsConfig } from "../central/events/config.ts";
import { AUDIT_TABLE, Audit } from "../central/audit/index.ts";
import { AlarmQuery } from "../central/alarms/index.ts";
import type { RuleInput } from "../central/rules/index.ts";

const { values } = parseArgs({ options: { events: { type: "string", default: "100000" }, alarms: { type: "string", default: "1000000" }, audit: { type: "string", default: "10000000" }, parts: { type: "string", default: "events,alarms,audit" } } });
const PARTS = new Set(values.parts!.split(","));
const EVENTS = Number(values.events);
const ALARMS = Number(values.alarms);
const AUDITS = Number(values.audit);
const root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-bench-ops-"));
const log = new Logger({ component: "bench", sink: new MemorySink(), level: "error" });
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const out: string[] = [];

async function stack(name: string) {
  const db = await Db.open(path.join(root, `${name}.duckdb`));
  const database = await testEmbedded(path.join(root, `${name}-pg`));
  await migrateUp(database);
  const users = new Users({ db: database, clock: systemClock, log, sessionTtlMs: 3_600_000 });
  await users.init();
  const syslog = new Syslog({ db, clock: systemClock, retentionDays: 30 });
  await syslog.init();
  const ops = await startOperations({ db, database, clock: systemClock, log, users, syslog, config: OperationsConfig.parse({}), auditHeadFile: path.join(root, `${name}-head.json`), publish: async () => {} });
  return { db, database, ops, syslog };
}

// 1. events → 200 rules → alarms
if (PARTS.has("events")) {
  const { db, ops, syslog } = await stack("events");
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
  const s = (performance.now() - t0) / 1000;
  const n = Number((await db.all<{ n: string }>(`SELECT count(*) AS n FROM alarms`))[0]!.n);
  const ev = Number((await db.all<{ n: string }>(`SELECT count(*) AS n FROM events`))[0]!.n);
  out.push(`events→rules→alarms: ${EVENTS} events, 200 rules, ${ops.rules.stats.fired} rule firings, ${n} alarms stored, ${ev} events stored in ${s.toFixed(2)} s = ${Math.round(EVENTS / s)} events/s, ${Math.round(n / s)} alarms/s (stored and acknowledged)`);
  await ops.close();
  await syslog.close();
  await db.close();
}

// 2. alarm list with 1 M alarms
if (PARTS.has("alarms")) {
  const { db, database, ops, syslog } = await stack("alarms");
  const t0 = performance.now();
  const now = Date.now();
  const CH = 100_000;
  for (let off = 0; off < ALARMS; off += CH) {
    const rows: AppendValue[][] = [];
    for (let i = off; i < Math.min(ALARMS, off + CH); i++) {
      const st = i % 10 === 0 ? "new" : i % 10 === 1 ? "in-progress" : "closed";
      rows.push([BigInt(i + 1), st, 1 + (i % 5), `alarm ${i}`, "", `site-${i % 500}`, `cam-${i % 4000}`, `e${i}`, "motion", BigInt(now - (ALARMS - i) * 1000), false, `r${i % 200}`, st === "closed" || st === "in-progress" ? `op${i % 20}` : null, BigInt(now), BigInt(now), null, "[]"]);
    }
    await db.append("alarms", rows);
  }
  await ops.close();
  const gen = (performance.now() - t0) / 1000;
  const ops2 = await startOperations({ db, database, clock: systemClock, log, users: ops.users, syslog, config: OperationsConfig.parse({}), auditHeadFile: path.join(root, "a2.json"), publish: async () => {} });
  const admin = { user: "admin", grants: [{ rights: ["ack-alarms" as const], scope: "*" }] };
  const operator = { user: "op", grants: Array.from({ length: 20 }, (_, i) => ({ rights: ["ack-alarms" as const], scope: `site:site-${i}` })) };
  const cases: [string, typeof admin, Record<string, string>][] = [
    ["admin, newest 50", admin, {}],
    ["admin, state=new, by priority", admin, { state: "new", sort: "-priority" }],
    ["admin, camera filter", admin, { camera: "cam-17" }],
    ["admin, page 100 (offset 5000)", admin, { offset: "5000" }],
    ["operator of 20 sites, open alarms", operator, { state: "new,in-progress" }],
  ];
  // Baseline: the whole-table sort and count the list ran before (same SQL shape, same file).
  const baseline = async () => {
    const rows = await db.all(`SELECT * FROM alarms WHERE TRUE ORDER BY event_ms DESC, id DESC LIMIT $1 OFFSET $2`, [50n, 0n]);
    await db.all(`SELECT count(*) AS n FROM alarms WHERE TRUE`);
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
      const b = performance.now();
      const rows = await baseline();
      if (i >= 3) base.push(performance.now() - b);
      if (JSON.stringify(rows.map((x) => Number(x.id))) !== JSON.stringify(r.alarms.map((a) => a.id))) throw new Error("newest page differs from the whole-table sort");
    }
    const vs = base.length ? `; baseline whole-table sort p50 ${pct(base, 50).toFixed(1)} ms, p95 ${pct(base, 95).toFixed(1)} ms; ratio p95 ${(pct(times, 95) / pct(base, 95)).toFixed(2)}` : "";
    out.push(`alarm list, ${ALARMS} alarms, ${name}: p50 ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms (incl. total count)${vs}`);
  }
  out.push(`  (generated ${ALARMS} alarms with the Appender in ${gen.toFixed(1)} s)`);
  await ops2.close();
  await syslog.close();
  await db.close();
}

// 3. audit query by camera over 10 M records
if (PARTS.has("audit")) {
  const db = await Db.open(path.join(root, "audit.duckdb"));
  await db.run(AUDIT_TABLE);
  const t0 = performance.now();
  const CH = 250_000;
  const now = Date.now();
  const acts = ["playback", "view-live", "export", "login", "retrieval"];
  for (let off = 0; off < AUDITS; off += CH) {
    const rows: AppendValue[][] = [];
    for (let i = off; i < Math.min(AUDITS, off + CH); i++) {
      const cam = i % 5 === 3 ? null : `cam-${i % 10_000}`;
      // Hashes are placeholders: this measures queries, not the chain (audit.test.ts covers that).
      rows.push([BigInt(i + 1), BigInt(now - (AUDITS - i) * 100), `user-${i % 300}`, acts[i % 5]!, null, cam && `site-${i % 1000}`, cam, cam && BigInt(now - 60_000), cam && BigInt(now), "ok", "{}", "x", "y"]);
    }
    await db.append("audit_log", rows);
  }
  const gen = (performance.now() - t0) / 1000;
  const audit = new Audit({ db, clock: systemClock, log, headFile: path.join(root, "audit-head.json") });
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
    out.push(`audit query, ${AUDITS} records, ${name}: p50 ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms`);
  }
  out.push(`  (generated ${AUDITS} audit records with the Appender in ${gen.toFixed(1)} s; db ${((await fs.stat(path.join(root, "audit.duckdb"))).size / 1e6).toFixed(0)} MB)`);
  await db.close();
}

console.log(out.join("\n"));
await fs.rm(root, { recursive: true, force: true });
