/**
 * Central's DuckDB file (central.duckdb in the data dir). One process owns it (DuckDB takes a
 * file lock), which is why the CLI never opens it while central runs: cross-process requests
 * go through the append-only journals (tokens.jsonl, revocations.jsonl) instead.
 */
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";

export type AppendValue = string | number | bigint | boolean | null;

/** Statements inside Db.transaction (bound parameters and the appender only). */
export interface DbTx {
  run(sql: string, params?: DuckDBValue[]): Promise<void>;
  all<T>(sql: string, params?: DuckDBValue[]): Promise<T[]>;
  append(table: string, rows: readonly (readonly AppendValue[])[]): Promise<void>;
}

export class Db {
  private queue: Promise<unknown> = Promise.resolve();
  private readConn: Promise<DuckDBConnection> | null = null;
  private readQueue: Promise<unknown> = Promise.resolve();
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(file: string): Promise<Db> {
    const instance = await DuckDBInstance.create(file);
    return new Db(instance, await instance.connect());
  }

  /** Statements run one at a time on the single connection, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  run(sql: string, params: DuckDBValue[] = []): Promise<void> {
    return this.serial(async () => {
      await this.conn.run(sql, params);
    });
  }

  all<T = Record<string, string | number | boolean | null>>(sql: string, params: DuckDBValue[] = []): Promise<T[]> {
    return this.serial(async () => {
      const r = await this.conn.runAndReadAll(sql, params);
      return r.getRowObjectsJson() as T[];
    });
  }

  /**
   * A read on a second connection, in its own queue: it does not wait behind the first
   * connection's statements (a control-plane batch holds that one for seconds on a loaded
   * machine) and sees what is committed. For views that must answer under load; never inside a
   * transaction's flow (it cannot see that transaction's rows).
   */
  read<T = Record<string, string | number | boolean | null>>(sql: string, params: DuckDBValue[] = []): Promise<T[]> {
    this.readConn ??= this.instance.connect();
    const run = async () => ((await (await this.readConn!).runAndReadAll(sql, params)).getRowObjectsJson() as T[]);
    const next = this.readQueue.then(run, run);
    this.readQueue = next.catch(() => undefined);
    return next;
  }

  /**
   * Bulk insert through DuckDB's Appender (single-row INSERTs are ~1000x slower). Values map by
   * JS type: bigint → BIGINT, integer number → INTEGER, other number → DOUBLE, string →
   * VARCHAR, boolean, null; rows must list every column in table order.
   */
  append(table: string, rows: readonly (readonly AppendValue[])[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.serial(() => this.appendNow(table, rows));
  }

  /**
   * Runs fn as one transaction with the connection to itself: no statement from another
   * caller can land inside it (and be rolled back with it). Rolls back when fn throws.
   */
  transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      await this.conn.run("BEGIN TRANSACTION");
      const tx: DbTx = {
        run: async (sql, params = []) => void (await this.conn.run(sql, params)),
        all: async <R>(sql: string, params: DuckDBValue[] = []) => (await this.conn.runAndReadAll(sql, params)).getRowObjectsJson() as R[],
        append: (table, rows) => (rows.length ? this.appendNow(table, rows) : Promise.resolve()),
      };
      try {
        const r = await fn(tx);
        await this.conn.run("COMMIT");
        return r;
      } catch (e) {
        await this.conn.run("ROLLBACK").catch(() => undefined);
        throw e;
      }
    });
  }

  private async appendNow(table: string, rows: readonly (readonly AppendValue[])[]): Promise<void> {
    const a = await this.conn.createAppender(table);
    try {
      for (const r of rows) {
        for (const v of r) {
          if (v === null) a.appendNull();
          else if (typeof v === "bigint") a.appendBigInt(v);
          else if (typeof v === "string") a.appendVarchar(v);
          else if (typeof v === "boolean") a.appendBoolean(v);
          else if (Number.isInteger(v)) a.appendInteger(v);
          else a.appendDouble(v);
        }
        a.endRow();
      }
      a.flushSync();
    } finally {
      a.closeSync();
    }
  }

  async close(): Promise<void> {
    await this.queue;
    await this.readQueue;
    if (this.readConn) (await this.readConn).closeSync();
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
