/**
 * central/audit/: the append-only, hash-chained audit log (who logged in or failed to, viewed,
 * exported, retrieved, locked, changed configuration). Owns the audit_log table and the head
 * file beside central.duckdb. Each record's hash covers its content and the previous record's
 * hash; the head file (last seq + hash, rewritten atomically after every flush) makes deleting
 * the newest records detectable too. Nothing here updates or deletes a row.
 */
import { promises as fs } from "node:fs";
import { z } from "zod";
import { intQuery } from "../../lib/http/query.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Db } from "../db.ts";
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
export const AUDIT_TABLE = `CREATE TABLE IF NOT EXISTS audit_log (seq BIGINT NOT NULL, at_ms BIGINT NOT NULL, user_name VARCHAR NOT NULL, action VARCHAR NOT NULL, subject VARCHAR, site_id VARCHAR, camera_id VARCHAR, from_ms BIGINT, to_ms BIGINT, outcome VARCHAR NOT NULL, detail VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)`;

type Row = [bigint, bigint, string, string, string | null, string | null, string | null, bigint | null, bigint | null, string, string, string, string];

/** The hash of one record: SHA-256 over the previous hash and every stored column, as JSON. */
export function auditHash(prevHash: string, seq: number, at: number, user: string, action: string, subject: string | null, site: string | null, camera: string | null, from: number | null, to: number | null, outcome: string, detail: string): string {
  return new Bun.CryptoHasher("sha256").update(JSON.stringify([prevHash, seq, at, user, action, subject, site, camera, from, to, outcome, detail])).digest("hex");
}

export interface AuditOptions {
  db: Db;
  clock: Clock;
  log: Logger;
  headFile: string;
  flushMs?: number;
}

export class Audit {
  private seq = 0;
  private head = GENESIS;
  private pending: Row[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly o: AuditOptions) {}

  get db(): Db {
    return this.o.db;
  }

  get headFile(): string {
    return this.o.headFile;
  }

  async init(): Promise<void> {
    await this.o.db.run(AUDIT_TABLE);
    const r = await this.o.db.all<{ seq: string; hash: string }>(`SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`);
    if (r[0]) {
      this.seq = Number(r[0].seq);
      this.head = r[0].hash;
    }
  }

  /** Chains the record now (in call order) and stores it within flushMs; await flush() to be sure. */
  record(i: AuditInput): void {
    const seq = ++this.seq;
    const at = this.o.clock.now();
    const detail = JSON.stringify(i.detail ?? {});
    const outcome = i.outcome ?? "ok";
    const n = (v: string | null | undefined) => v ?? null;
    const hash = auditHash(this.head, seq, at, i.user, i.action, n(i.subject), n(i.siteId), n(i.cameraId), i.fromMs ?? null, i.toMs ?? null, outcome, detail);
    const big = (v: number | null | undefined) => (v === null || v === undefined ? null : BigInt(v));
    this.pending.push([BigInt(seq), BigInt(at), i.user, i.action, n(i.subject), n(i.siteId), n(i.cameraId), big(i.fromMs), big(i.toMs), outcome, detail, this.head, hash]);
    this.head = hash;
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
        await this.o.db.append("audit_log", rows);
        const last = rows[rows.length - 1]!;
        await writeFileAtomic(this.o.headFile, JSON.stringify({ seq: Number(last[0]), hash: last[12] }) + "\n");
      } catch (e) {
        this.o.log.error("audit records could not be stored", { err: e as Error, count: rows.length });
      }
    });
    return this.flushing;
  }

  async query(q: AuditQuery): Promise<{ records: AuditRecord[]; next: number | null }> {
    await this.flush();
    const where: string[] = [];
    const p: (string | bigint)[] = [];
    const add = (sql: string, v: string | bigint) => (p.push(v), where.push(sql.replace("?", `$${p.length}`)));
    if (q.user) add("user_name = ?", q.user);
    if (q.camera) add("camera_id = ?", q.camera);
    if (q.site) add("site_id = ?", q.site);
    if (q.action) add("action = ?", q.action);
    if (q.from) add("at_ms >= ?", BigInt(Date.parse(q.from)));
    if (q.to) add("at_ms < ?", BigInt(Date.parse(q.to)));
    if (q.before) add("seq < ?", BigInt(q.before));
    const rows = await this.o.db.all<Record<string, string | null>>(
      `SELECT * FROM audit_log ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY seq DESC LIMIT $${p.length + 1}`,
      [...p, BigInt(q.limit + 1)],
    );
    const more = rows.length > q.limit;
    const records = rows.slice(0, q.limit).map(toRecord);
    return { records, next: more ? records[records.length - 1]!.seq : null };
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

function toRecord(r: Record<string, string | null>): AuditRecord {
  const t = (v: string | null) => (v === null ? null : new Date(Number(v)).toISOString());
  return {
    seq: Number(r.seq),
    at: new Date(Number(r.at_ms)).toISOString(),
    user: r.user_name!,
    action: r.action as AuditAction,
    subject: r.subject ?? null,
    siteId: r.site_id ?? null,
    cameraId: r.camera_id ?? null,
    from: t(r.from_ms ?? null),
    to: t(r.to_ms ?? null),
    outcome: r.outcome!,
    detail: JSON.parse(r.detail ?? "{}") as Record<string, unknown>,
    prevHash: r.prev_hash!,
    hash: r.hash!,
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
export async function verifyAudit(db: Db, headFile: string | null, maxProblems = 20): Promise<VerifyResult> {
  const problems: { seq: number; problem: string }[] = [];
  const note = (seq: number, problem: string) => {
    if (problems.length < maxProblems) problems.push({ seq, problem });
  };
  let prevSeq = 0;
  let prevHash = GENESIS;
  let checked = 0;
  let after = -1n;
  for (;;) {
    const rows = await db.all<Record<string, string | null>>(`SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 100000`, [after]);
    if (!rows.length) break;
    for (const r of rows) {
      const seq = Number(r.seq);
      checked++;
      if (seq === prevSeq) note(seq, `record ${seq} appears twice (a copy was inserted)`);
      else if (seq !== prevSeq + 1) note(seq, `records ${prevSeq + 1}..${seq - 1} are missing (deleted)`);
      if (r.prev_hash !== prevHash) note(seq, `record ${seq} does not follow record ${prevSeq}: the chain is broken (a record before it was deleted, edited or moved)`);
      const num = (v: string | null | undefined) => (v === null || v === undefined ? null : Number(v));
      const h = auditHash(r.prev_hash!, seq, Number(r.at_ms), r.user_name!, r.action!, r.subject ?? null, r.site_id ?? null, r.camera_id ?? null, num(r.from_ms), num(r.to_ms), r.outcome!, r.detail!);
      if (h !== r.hash) note(seq, `record ${seq} was edited: its content does not match its hash`);
      prevSeq = seq;
      prevHash = r.hash!;
    }
    after = BigInt(prevSeq);
  }
  if (headFile) {
    let head: { seq: number; hash: string } | null = null;
    try {
      head = JSON.parse(await fs.readFile(headFile, "utf8")) as { seq: number; hash: string };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") note(prevSeq, `the head file ${headFile} is unreadable: ${(e as Error).message}`);
      else if (checked > 0) note(prevSeq, `the head file ${headFile} is missing, so deletion of the newest records cannot be ruled out`);
    }
    if (head) {
      if (head.seq > prevSeq) note(prevSeq + 1, `records ${prevSeq + 1}..${head.seq} are missing at the end (deleted); the log ended at ${head.seq}`);
      else if (head.seq === prevSeq && head.hash !== prevHash) note(prevSeq, `record ${prevSeq} is not the record last written (hash differs from the head file)`);
    }
  }
  return { ok: problems.length === 0, checked, lastSeq: prevSeq, problems };
}
