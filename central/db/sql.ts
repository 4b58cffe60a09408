/**
 * The one database interface of central's shared state (docs/design/central-cluster.md): the
 * same PostgreSQL dialect on both drivers — embedded PGlite (single node) and a PostgreSQL
 * server through Bun.SQL. Values reach SQL only as bound parameters ($1, $2, …); table and
 * column names in copyRows are checked identifiers from code.
 */

/**
 * A bound parameter. int8 results come back as number (bigint only beyond 2^53). A json/jsonb
 * value is passed as an object or array (Bun.SQL encodes a string for a jsonb parameter as a
 * JSON string, PGlite parses it: the conformance suite pins the portable form).
 */
export type SqlValue = string | number | bigint | boolean | null | Uint8Array | { [key: string]: unknown } | unknown[];
export type Row = Record<string, unknown>;

/** Statements on a connection or inside a transaction. */
export interface Sql {
  /** Rows of one statement. */
  query<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** One statement; the number of rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Bulk insert: rows list every named column in order; returns the number inserted. */
  copyRows(table: string, columns: readonly string[], rows: readonly (readonly SqlValue[])[]): Promise<number>;
  /** A script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface Database extends Sql {
  readonly driver: "embedded" | "server";
  /**
   * Runs fn as one transaction: committed when fn resolves, rolled back when it throws. No
   * statement of another caller lands inside it.
   */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * LISTEN on `channel` (a plain identifier): onNotify gets the payload of every
   * `pg_notify(channel, payload)` any connection commits — another node's too on a server, this
   * process's on PGlite. Resolves once listening; the returned function stops. A wake-up hint
   * only: a notification sent while not listening is lost, so rows stay the truth.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkIdentifier(name: string): string {
  if (!IDENT.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return name;
}

/** PostgreSQL's limit of bound parameters per statement. */
const MAX_PARAMS = 65_535;

/**
 * copyRows as multi-row INSERTs with bound parameters, chunked under the parameter limit:
 * the same statements on both drivers (PGlite has no COPY FROM a client stream).
 */
export async function insertRows(sql: Pick<Sql, "run">, table: string, columns: readonly string[], rows: readonly (readonly SqlValue[])[]): Promise<number> {
  checkIdentifier(table);
  if (columns.length === 0) throw new Error("copyRows needs at least one column");
  const cols = columns.map(checkIdentifier).join(", ");
  const per = Math.max(1, Math.min(1000, Math.floor(MAX_PARAMS / columns.length)));
  let n = 0;
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    const params: SqlValue[] = [];
    const tuples: string[] = [];
    for (const r of chunk) {
      if (r.length !== columns.length) throw new Error(`copyRows into ${table}: a row has ${r.length} values for ${columns.length} columns`);
      const ph: string[] = [];
      for (const v of r) ph.push(`$${params.push(v)}`);
      tuples.push(`(${ph.join(", ")})`);
    }
    n += await sql.run(`INSERT INTO ${table} (${cols}) VALUES ${tuples.join(", ")}`, params);
  }
  return n;
}

/** int8 as number when it is exact, else bigint (both drivers). */
export function int8(text: string | bigint): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

/** The SQLSTATE of a PostgreSQL error from either driver (e.g. "23505" unique violation), or null. */
export function sqlState(e: unknown): string | null {
  const x = e as { code?: unknown; errno?: unknown } | null;
  if (!x) return null;
  for (const v of [x.code, x.errno]) if (typeof v === "string" && /^[0-9A-Z]{5}$/.test(v)) return v;
  return null;
}
