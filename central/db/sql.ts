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
  /**
   * PostgreSQL NOTIFY on `channel` (a plain identifier): every listener on every node gets
   * `payload`; inside a transaction, only when it commits. A hint that something changed —
   * the rows stay the truth, so a lost notification costs latency, not correctness.
   */
  notify(channel: string, payload: string): Promise<void>;
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
  /**
   * A handle on a connection of its own, for work that must never wait behind the pool's other
   * work (the lease rounds: a renewal queued behind batches lets the lease run out). On a server
   * a second pool of one connection, closed by its close(); on PGlite (one connection in any
   * case) this database itself, whose close() there does nothing.
   */
  ownConnection(): Promise<Database>;
  close(): Promise<void>;
}

/** ownConnection() of a one-connection driver: the same database, which its holder does not close. */
export function sameConnection(db: Database): Promise<Database> {
  return Promise.resolve({ ...db, close: async () => undefined });
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkIdentifier(name: string): string {
  if (!IDENT.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return name;
}

/** notify() as one statement, the same on both drivers. */
export async function notifyWith(sql: Pick<Sql, "query">, channel: string, payload: string): Promise<void> {
  await sql.query(`SELECT pg_notify($1, $2)`, [checkIdentifier(channel), payload]);
}

/** Rows per COPY statement: bounds the CSV text held at once. */
const COPY_ROWS = 50_000;
/** Rows per piece of CSV text: encoded between two turns of the event loop (milliseconds of work). */
const PIECE_ROWS = 2_000;

/**
 * copyRows as `COPY table (columns) FROM <source> (FORMAT csv)` — PostgreSQL's bulk path on both
 * drivers (PGlite reads the CSV from a blob, the server from the client's stream or, for the
 * embedded database process, from a file), several times faster than multi-row INSERTs. `send`
 * runs one statement with its CSV text, in pieces of whole lines, and returns the rows stored.
 * Values are encoded by their JavaScript type (csvValue), never spliced into SQL. Encoding is
 * JavaScript on central's event loop: it yields between pieces so HTTP, video and MQTT go on.
 */
export async function copyCsv(table: string, columns: readonly string[], rows: readonly (readonly SqlValue[])[], source: string, send: (statement: string, csv: string[]) => Promise<number>): Promise<number> {
  checkIdentifier(table);
  if (columns.length === 0) throw new Error("copyRows needs at least one column");
  const cols = columns.map(checkIdentifier).join(", ");
  let n = 0;
  for (let i = 0; i < rows.length; i += COPY_ROWS) {
    const pieces: string[] = [];
    for (let p = i; p < Math.min(rows.length, i + COPY_ROWS); p += PIECE_ROWS) {
      if (p > i) await new Promise<void>((r) => setImmediate(r));
      let piece = "";
      for (const r of rows.slice(p, Math.min(rows.length, i + COPY_ROWS, p + PIECE_ROWS))) {
        if (r.length !== columns.length) throw new Error(`copyRows into ${table}: a row has ${r.length} values for ${columns.length} columns`);
        piece += r.map(csvValue).join(",") + "\n";
      }
      pieces.push(piece);
    }
    n += await send(`COPY ${table} (${cols}) FROM ${source} (FORMAT csv)`, pieces);
  }
  return n;
}

/** One CSV field: NULL is an unquoted empty field, every text a quoted one (so "" stays an empty string). */
function csvValue(v: SqlValue): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "boolean") return v ? "t" : "f";
  const text = typeof v === "string" ? v : v instanceof Uint8Array ? `\\x${Buffer.from(v).toString("hex")}` : JSON.stringify(v);
  return `"${text.replaceAll('"', '""')}"`;
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
