/**
 * Versioned migrations: central/db/migrations/NNNN_name.sql, each with a `-- up` and a
 * `-- down` section. Applied versions are rows of schema_migrations. Each step runs in its own
 * transaction under one advisory lock, so several central nodes starting at once migrate once:
 * the others wait, then find the version applied.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Database, Sql } from "./sql.ts";

export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string;
}

export const MIGRATIONS_DIR = path.join(import.meta.dir, "migrations");
/** pg_advisory_xact_lock key of migrations ("outpost migrate"). */
const LOCK = 0x6f75_7470_6d67;

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(f);
    if (!m) throw new Error(`migration file ${f}: name it NNNN_name.sql`);
    const text = readFileSync(path.join(dir, f), "utf8");
    const up = /^-- up\s*$/m.exec(text);
    const down = /^-- down\s*$/m.exec(text);
    if (!up || !down || down.index < up.index) throw new Error(`migration ${f}: needs a "-- up" section, then a "-- down" section`);
    const version = Number(m[1]);
    if (out.some((x) => x.version === version)) throw new Error(`migration ${f}: version ${version} twice`);
    out.push({ version, name: m[2]!, up: text.slice(up.index + up[0].length, down.index).trim(), down: text.slice(down.index + down[0].length).trim() });
  }
  return out;
}

async function locked(tx: Sql): Promise<Set<number>> {
  await tx.query(`SELECT pg_advisory_xact_lock($1)`, [LOCK]);
  await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_ms bigint NOT NULL)`);
  return new Set((await tx.query<{ version: number }>(`SELECT version FROM schema_migrations`)).map((r) => r.version));
}

/** Applies every pending migration up to `target` (default: all), in order; returns the versions applied. */
export async function migrateUp(db: Database, o: { migrations?: Migration[]; target?: number; now?: () => number } = {}): Promise<number[]> {
  const all = o.migrations ?? loadMigrations();
  const done: number[] = [];
  for (const m of all) {
    if (o.target !== undefined && m.version > o.target) break;
    await db.transaction(async (tx) => {
      if ((await locked(tx)).has(m.version)) return;
      await tx.exec(m.up).catch((e: Error) => {
        throw new Error(`migration ${m.version}_${m.name} (up) failed: ${e.message}`);
      });
      await tx.run(`INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)`, [m.version, m.name, (o.now ?? Date.now)()]);
      done.push(m.version);
    });
  }
  return done;
}

/** Reverts applied migrations above `target` (default 0: all), newest first; returns the versions reverted. */
export async function migrateDown(db: Database, o: { migrations?: Migration[]; target?: number } = {}): Promise<number[]> {
  const all = o.migrations ?? loadMigrations();
  const target = o.target ?? 0;
  const done: number[] = [];
  for (const m of [...all].reverse()) {
    if (m.version <= target) break;
    await db.transaction(async (tx) => {
      if (!(await locked(tx)).has(m.version)) return;
      await tx.exec(m.down).catch((e: Error) => {
        throw new Error(`migration ${m.version}_${m.name} (down) failed: ${e.message}`);
      });
      await tx.run(`DELETE FROM schema_migrations WHERE version = $1`, [m.version]);
      done.push(m.version);
    });
  }
  return done;
}

/** The applied versions, ascending. */
export async function appliedVersions(db: Database): Promise<number[]> {
  return db.transaction(async (tx) => [...(await locked(tx))].sort((a, b) => a - b));
}

/** The public schema as text (tables, columns, constraints, indexes), to compare two databases. */
export async function schemaDump(db: Sql): Promise<string[]> {
  const cols = await db.query<{ t: string; c: string; ty: string; n: string; d: string | null }>(
    `SELECT table_name AS t, column_name AS c, data_type AS ty, is_nullable AS n, column_default AS d FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  const cons = await db.query<{ t: string; c: string; def: string }>(
    `SELECT conrelid::regclass::text AS t, conname AS c, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`,
  );
  const idx = await db.query<{ def: string }>(`SELECT indexdef AS def FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`);
  const seq = await db.query<{ s: string }>(`SELECT sequence_name AS s FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY 1`);
  return [
    ...cols.map((r) => `column ${r.t}.${r.c} ${r.ty} ${r.n === "YES" ? "null" : "not null"}${r.d ? ` default ${r.d}` : ""}`),
    ...cons.map((r) => `constraint ${r.t}.${r.c} ${r.def}`),
    ...idx.map((r) => `index ${r.def}`),
    ...seq.map((r) => `sequence ${r.s}`),
  ];
}
