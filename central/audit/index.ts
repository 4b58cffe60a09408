/**
 * central/audit/: the append-only, hash-chained audit log (who logged in or failed to, viewed,
 * exported, retrieved, locked, changed configuration). Owns the audit_log table (central's
 * database, central/db) and the head file in the data dir. Each record's hash covers its content
 * and the previous record's hash; the head file (last seq + hash this node wrote, rewritten
 * atomically after every flush) makes deleting the newest records detectable too. Records are
 * chained when they are stored, inside one transaction that holds an advisory lock and reads the
 * head from the table: several central nodes appending at once take turns and never fork the
 * chain. Nothing here updates or deletes a row.
 */
import { promises as fs } from "node:fs";
import { z } from "zod";
import { intQuery } from "../../lib/http/query.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database, Sql, SqlValue } from "../db/index.ts";
import { writeFileAtomic } from "../files.ts";

export const AUDIT_ACTIONS = [
  "login",
  "login-failed",
  "access-denied",
  "logout",
  "view-live",
  "playback",
  "export",
  "retrieval",
  "evidence-lock",
  "alarm",
  "config",
  /** Central's own retention deleted footage (user "system"). */
  "retention",
] as const;
export const AuditAction = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditAction>;

export interface AuditInput {
  user: string;
  action: AuditAction;
  /** What exactly, e.g. "user.create", "rule.update", "site.revoke". */
  subject?: string | null;
  siteId?: string | null;
  cameraId?: string | null;
  /** Time window for views, exports, retrievals and locks (ms since epoch). */
  fromMs?: number | null;
  toMs?: number | null;
  outcome?: "ok" | "denied" | "error";
  detail?: Record<string, unknown>;
}

export const AuditRecord = z.object({
  seq: z.number().int(),
  at: z.string(),
  user: z.string(),
  action: AuditAction,
  subject: z.string().nullable(),
  siteId: z.string().nullable(),
  cameraId: z.string().nullable(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  outcome: z.string(),
  detail: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditRecord = z.infer<typeof AuditRecord>;

export const AuditQuery = z.object({
  user: z.string().optional(),
  camera: z.string().optional(),
  site: z.string().optional(),
  action: AuditAction.optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** Records with seq below this (the `next` of the previous page). */
  before: intQuery({ min: 1 }).optional(),
  limit: intQuery({ min: 1, max: 1000 }).default(100),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

export const GENESIS = "0".repeat(64);
/** pg_advisory_xact_lock key of audit appends ("outpau"): one appender at a time across every node. */
const AUDIT_LOCK = 0x6f75_7470_6175;
const COLUMNS = ["seq", "at_ms", "user_name", "action", "subject", "site_id", "camera_id", "from_ms", "to_ms", "outcome", "detail", "prev_hash", "hash"];

/** A record waiting to be chained and stored: every column but seq and the hashes. */
type Pending = [number, string, string, string | null, string | null, string | null, number | null, number | null, string, string];

/** The hash of one record: SHA-256 over the previous hash and every stored column, as JSON. */
export function auditHash(prevHash: string, seq: number, at: number, user: string, action: string, subject: string | null, site: string | null, camera: string | null, from: number | null, to: number | null, outcome: string, detail: string): string {
  return new Bun.CryptoHasher("sha256").update(JSON.stringify([prevHash, seq, at, user, action, subject, site, camera, from, to, outcome, detail])).digest("hex");
}

export interface AuditOptions {
  db: Database;
  clock: Clock;
  log: Logger;
  headFile: string;
  flushMs?: number;
}

export class Audit {
  private pending: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly o: AuditOptions) {}

  get db(): Database {
    return this.o.db;
  }

  get headFile(): string {
    return this.o.headFile;
  }

  /** The table belongs to the migrations (central/db); nothing to load. */
  async init(): Promise<void> {}

  /** Queues the record (its time is now) and stores it, chained in call order, within flushMs; await flush() to be sure. */
  record(i: AuditInput): void {
    const n = (v: string | null | undefined) => v ?? null;
    this.pending.push([this.o.clock.now(), i.user, i.action, n(i.subject), n(i.siteId), n(i.cameraId), i.fromMs ?? null, i.toMs ?? null, i.outcome ?? "ok", JSON.stringify(i.detail ?? {})]);
    if (this.pending.length >= 5000) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.o.flushMs ?? 50);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const rows = this.pending;
    this.pending = [];
    this.flushing = this.flushing.then(async () => {
      if (!rows.length) return;
      try {
        const last = await this.o.db.transaction((tx) => appendChained(tx, rows));
        await writeFileAtomic(this.o.headFile, JSON.stringify(last) + "\n");
      } catch (e) {
        this.o.log.error("audit records could not be stored", { err: e as Error, count: rows.length });
      }
    });
    return this.flushing;
  }

  async query(q: AuditQuery): Promise<{ records: AuditRecord[]; next: number | null }> {
    await this.flush();
    const where: string[] = [];
    const p: (string | number)[] = [];
    const add = (sql: string, v: string | number) => (p.push(v), where.push(sql.replace("?", `$${p.length}`)));
    if (q.user) add("user_name = ?", q.user);
    if (q.camera) add("camera_id = ?", q.camera);
    if (q.site) add("site_id = ?", q.site);
    if (q.action) add("action = ?", q.action);
    if (q.from) add("at_ms >= ?", Date.parse(q.from));
    if (q.to) add("at_ms < ?", Date.parse(q.to));
    if (q.before) add("seq < ?", q.before);
    const rows = await this.o.db.query<Stored>(`SELECT * FROM audit_log ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq DESC LIMIT $${p.length + 1}`, [...p, q.limit + 1]);
    const more = rows.length > q.limit;
    const records = rows.slice(0, q.limit).map(toRecord);
    return { records, next: more ? records[records.length - 1]!.seq : null };
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

/**
 * Chains `rows` after the table's head and stores them, inside `tx`: the advisory lock makes
 * every other appender (this node's or another's) wait until this transaction ends, so the head
 * read here is still the head at commit. Returns the new head.
 */
async function appendChained(tx: Sql, rows: readonly Pending[]): Promise<{ seq: number; hash: string }> {
  await tx.query(`SELECT pg_advisory_xact_lock($1)`, [AUDIT_LOCK]);
  const top = (await tx.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`))[0];
  let seq = top ? Number(top.seq) : 0;
  let head = top?.hash ?? GENESIS;
  const out: SqlValue[][] = [];
  for (const [at, user, action, subject, site, camera, from, to, outcome, detail] of rows) {
    const hash = auditHash(head, ++seq, at, user, action, subject, site, camera, from, to, outcome, detail);
    out.push([seq, at, user, action, subject, site, camera, from, to, outcome, detail, head, hash]);
    head = hash;
  }
  await tx.copyRows("audit_log", COLUMNS, out);
  return { seq, hash: head };
}

/** An audit_log row as the drivers return it (int8 as number). */
type Stored = Record<string, string | number | null>;

function toRecord(r: Stored): AuditRecord {
  const t = (v: string | number | null) => (v === null ? null : new Date(Number(v)).toISOString());
  return {
    seq: Number(r.seq),
    at: new Date(Number(r.at_ms)).toISOString(),
    user: r.user_name as string,
    action: r.action as AuditAction,
    subject: (r.subject as string | null) ?? null,
    siteId: (r.site_id as string | null) ?? null,
    cameraId: (r.camera_id as string | null) ?? null,
    from: t(r.from_ms ?? null),
    to: t(r.to_ms ?? null),
    outcome: r.outcome as string,
    detail: JSON.parse((r.detail as string | null) ?? "{}") as Record<string, unknown>,
    prevHash: r.prev_hash as string,
    hash: r.hash as string,
  };
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  lastSeq: number;
  /** Each names the record (seq) where the chain stops holding, in a sentence. */
  problems: { seq: number; problem: string }[];
}

/**
 * Walk the whole chain in seq order. Finds edited rows (hash), deleted rows (seq gap, broken
 * link), reordered rows (broken link / hash, since seq is hashed) and deleted newest rows
 * (head file). Reports at most `maxProblems`.
 */
export async function verifyAudit(db: Pick<Sql, "query">, headFile: string | null, maxProblems = 20): Promise<VerifyResult> {
  const problems: { seq: number; problem: string }[] = [];
  const note = (seq: number, problem: string) => {
    if (problems.length < maxProblems) problems.push({ seq, problem });
  };
  // The head file is read before the rows: central rewrites it after each flush has committed,
  // so every record it names is in the table by then. Read after the rows, a flush between the
  // two (central running: a server database, or GET /api/v1/audit/verify) named records the
  // walk had not seen, reported as deleted.
  const head = headFile === null ? null : await readHead(headFile);
  let prevSeq = 0;
  let prevHash = GENESIS;
  let checked = 0;
  let after = -1;
  for (;;) {
    const rows = await db.query<Stored>(`SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 100000`, [after]);
    if (!rows.length) break;
    for (const r of rows) {
      const seq = Number(r.seq);
      checked++;
      if (seq === prevSeq) note(seq, `record ${seq} appears twice (a copy was inserted)`);
      else if (seq !== prevSeq + 1) note(seq, `records ${prevSeq + 1}..${seq - 1} are missing (deleted)`);
      if (r.prev_hash !== prevHash) note(seq, `record ${seq} does not follow record ${prevSeq}: the chain is broken (a record before it was deleted, edited or moved)`);
      const num = (v: string | number | null | undefined) => (v === null || v === undefined ? null : Number(v));
      const str = (v: string | number | null | undefined) => (v === null || v === undefined ? null : String(v));
      const h = auditHash(String(r.prev_hash), seq, Number(r.at_ms), String(r.user_name), String(r.action), str(r.subject), str(r.site_id), str(r.camera_id), num(r.from_ms), num(r.to_ms), String(r.outcome), String(r.detail));
      if (h !== r.hash) note(seq, `record ${seq} was edited: its content does not match its hash`);
      prevSeq = seq;
      prevHash = String(r.hash);
    }
    after = prevSeq;
  }
  if (head && "unreadable" in head) note(prevSeq, `the head file ${headFile} is unreadable: ${head.unreadable}`);
  else if (head && "missing" in head) {
    // Written since (central's first flush: its rows committed, then the file): not missing.
    if (checked > 0 && "missing" in (await readHead(headFile!))) note(prevSeq, `the head file ${headFile} is missing, so deletion of the newest records cannot be ruled out`);
  } else if (head) {
    if (head.seq > prevSeq) note(prevSeq + 1, `records ${prevSeq + 1}..${head.seq} are missing at the end (deleted); the log ended at ${head.seq}`);
    else if (head.seq === prevSeq && head.hash !== prevHash) note(prevSeq, `record ${prevSeq} is not the record last written (hash differs from the head file)`);
  }
  return { ok: problems.length === 0, checked, lastSeq: prevSeq, problems };
}

async function readHead(file: string): Promise<{ seq: number; hash: string } | { missing: true } | { unreadable: string }> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as { seq: number; hash: string };
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? { missing: true } : { unreadable: (e as Error).message };
  }
}
