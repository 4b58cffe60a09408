/**
 * central/syslog/: the system log — warnings and errors from central's own logger (a LogSink
 * teed into it) and from edges (ingestEdgeLogs, called by the control plane when log lines
 * arrive through the outbox). Owns the syslog table; batches writes; deletes records older
 * than the retention. Stored in central's database (central/db, migration 0004); ids come from
 * the table's identity sequence, so several nodes write one log. Must not log through the
 * logger it is fed by (that would loop).
 */
import { z } from "zod";
import { intQuery } from "../../lib/http/query.ts";
import type { Clock } from "../../lib/clock.ts";
import type { LogRecord, LogSink } from "../../lib/log/index.ts";
import type { Database, SqlValue } from "../db/index.ts";

export const SyslogLevel = z.enum(["warn", "error"]);

export const EdgeLogRecord = z.object({
  t: z.iso.datetime({ offset: true }),
  level: z.enum(["debug", "info", "warn", "error"]),
  component: z.string().max(200).default("edge"),
  msg: z.string().max(10_000),
  fields: z.record(z.string(), z.unknown()).optional(),
});
export type EdgeLogRecord = z.infer<typeof EdgeLogRecord>;

export const SyslogEntry = z.object({
  id: z.number().int(),
  at: z.string(),
  level: SyslogLevel,
  /** "central" or the site id of the edge that logged it. */
  source: z.string(),
  component: z.string(),
  msg: z.string(),
  fields: z.record(z.string(), z.unknown()),
});
export type SyslogEntry = z.infer<typeof SyslogEntry>;

export const SyslogQuery = z.object({
  level: SyslogLevel.optional(),
  source: z.string().optional(),
  component: z.string().optional(),
  q: z.string().max(200).optional().describe("substring of the message"),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  before: intQuery({ min: 1 }).optional(),
  limit: intQuery({ min: 1, max: 1000 }).default(100),
});
export type SyslogQuery = z.infer<typeof SyslogQuery>;

type Row = [number, string, string, string, string, string];

export interface SyslogOptions {
  db: Database;
  clock: Clock;
  retentionDays: number;
  flushMs?: number;
}

export class Syslog implements LogSink {
  private pending: Row[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private sweeper: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly o: SyslogOptions) {}

  async init(): Promise<void> {
    await this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), 3_600_000);
  }

  /** LogSink: keeps warnings and errors of central's logger. */
  write(rec: LogRecord): void {
    if (rec.level !== "warn" && rec.level !== "error") return;
    const { t, level, component, msg, ...fields } = rec;
    this.add(Date.parse(t) || this.o.clock.now(), level, "central", component, msg, fields);
  }

  /** Log lines an edge sent through its outbox; only warnings and errors are kept. */
  ingestEdgeLogs(siteId: string, records: unknown[]): { stored: number; rejected: number } {
    let stored = 0;
    let rejected = 0;
    for (const raw of records) {
      const r = EdgeLogRecord.safeParse(raw);
      if (!r.success) {
        rejected++;
        continue;
      }
      if (r.data.level !== "warn" && r.data.level !== "error") continue;
      this.add(Date.parse(r.data.t), r.data.level, siteId, r.data.component, r.data.msg, r.data.fields ?? {});
      stored++;
    }
    return { stored, rejected };
  }

  private add(at: number, level: string, source: string, component: string, msg: string, fields: Record<string, unknown>): void {
    let f: string;
    try {
      f = JSON.stringify(fields);
    } catch {
      f = "{}";
    }
    this.pending.push([at, level, source, component, msg, f]);
    this.timer ??= setTimeout(() => void this.flush(), this.o.flushMs ?? 200);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const rows = this.pending;
    this.pending = [];
    this.chain = this.chain.then(async () => {
      try {
        if (rows.length) await this.o.db.copyRows("syslog", ["at_ms", "level", "source", "component", "msg", "fields"], rows as SqlValue[][]);
      } catch (e) {
        // Not through the logger: it feeds this sink.
        process.stderr.write(`syslog: ${rows.length} records lost: ${(e as Error).message}\n`);
      }
    });
    return this.chain;
  }

  async sweep(): Promise<void> {
    const cutoff = this.o.clock.now() - this.o.retentionDays * 86_400_000;
    await this.o.db.run(`DELETE FROM syslog WHERE at_ms < $1`, [cutoff]);
  }

  /** `sources`: null = all, else only these sources (site ids and/or "central"). */
  async query(q: SyslogQuery, sources: string[] | null): Promise<{ entries: SyslogEntry[]; next: number | null }> {
    await this.flush();
    const where: string[] = [];
    const p: (string | number)[] = [];
    const add = (sql: string, v: string | number) => (p.push(v), where.push(sql.replaceAll("?", `$${p.length}`)));
    if (q.level) add("level = ?", q.level);
    if (q.source) add("source = ?", q.source);
    if (q.component) add("component = ?", q.component);
    if (q.q) add("strpos(msg, ?) > 0", q.q);
    if (q.from) add("at_ms >= ?", Date.parse(q.from));
    if (q.to) add("at_ms < ?", Date.parse(q.to));
    if (q.before) add("id < ?", q.before);
    if (sources) {
      if (!sources.length) return { entries: [], next: null };
      const ph = sources.map((s) => (p.push(s), `$${p.length}`));
      where.push(`source IN (${ph.join(", ")})`);
    }
    const rows = await this.o.db.query<Record<string, string>>(`SELECT * FROM syslog ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY id DESC LIMIT $${p.length + 1}`, [...p, q.limit + 1]);
    const entries = rows.slice(0, q.limit).map((r) => ({
      id: Number(r.id),
      at: new Date(Number(r.at_ms)).toISOString(),
      level: r.level as "warn" | "error",
      source: r.source!,
      component: r.component!,
      msg: r.msg!,
      fields: JSON.parse(r.fields!) as Record<string, unknown>,
    }));
    return { entries, next: rows.length > q.limit ? entries[entries.length - 1]!.id : null };
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.flush();
  }
}
