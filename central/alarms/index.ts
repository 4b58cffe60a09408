/**
 * central/alarms/: alarms raised by rules and their workflow (new → in-progress (assigned) →
 * closed, with comments), each linked to its camera, time, event and retrieved clip. Owns the
 * alarms and alarm_comments tables and the change feed (subscribe) that the SSE endpoint
 * pushes to clients. Inserts are batched (rules may raise thousands per second); every read
 * and update first flushes, so nothing raised is invisible to a reader.
 */
import { z } from "zod";
import { intQuery } from "../../lib/http/query.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Db } from "../db.ts";

export const AlarmState = z.enum(["new", "in-progress", "closed"]);
export type AlarmState = z.infer<typeof AlarmState>;

export const ActionOutcome = z.object({
  kind: z.string(),
  state: z.enum(["done", "requested", "pending", "unavailable", "skipped", "failed"]),
  detail: z.string(),
  at: z.string(),
});
export type ActionOutcome = z.infer<typeof ActionOutcome>;

export const Clip = z.object({
  /** partial: a retrieval finished with footage the edge had overwritten (the clip has what reached central). */
  state: z.enum(["requested", "ready", "partial", "failed", "unavailable"]),
  retrievalId: z.string().nullable(),
  from: z.string(),
  to: z.string(),
  /** Where to play it when ready. */
  url: z.string().nullable(),
  detail: z.string(),
});
export type Clip = z.infer<typeof Clip>;

/** What a finished retrieval says on the alarm's clip when the engine gives no sentence of its own. */
const CLIP_OUTCOME: Record<string, string> = {
  ready: "retrieved to central and attached to this alarm",
  partial: "partly retrieved: some footage was overwritten at the edge before it reached central",
  failed: "the retrieval failed",
};

export const AlarmComment = z.object({ at: z.string(), user: z.string(), text: z.string(), state: AlarmState.nullable() });

export const Alarm = z.object({
  id: z.number().int(),
  state: AlarmState,
  priority: z.number().int().describe("1 = most urgent"),
  title: z.string(),
  instructions: z.string(),
  siteId: z.string().nullable(),
  cameraId: z.string().nullable(),
  eventId: z.string(),
  eventType: z.string(),
  eventTime: z.string().describe("original time of the event"),
  late: z.boolean(),
  ruleId: z.string(),
  assignee: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  clip: Clip.nullable(),
  actions: z.array(ActionOutcome),
  links: z.object({ camera: z.string().nullable(), video: z.string().nullable(), timeline: z.string().nullable(), event: z.string() }),
  comments: z.array(AlarmComment).optional(),
});
export type Alarm = z.infer<typeof Alarm>;

export const AlarmQuery = z.object({
  state: z
    .string()
    .regex(/^(new|in-progress|closed)(,(new|in-progress|closed))*$/, "comma-separated states: new, in-progress, closed")
    .optional(),
  priority: intQuery({ min: 1, max: 5 }).optional().describe("this priority or more urgent"),
  site: z.string().optional(),
  camera: z.string().optional(),
  assignee: z.string().optional(),
  from: z.iso.datetime({ offset: true }).optional().describe("event time ≥"),
  to: z.iso.datetime({ offset: true }).optional().describe("event time <"),
  sort: z.enum(["time", "-time", "priority", "-priority", "updated", "-updated"]).default("-time"),
  limit: intQuery({ min: 1, max: 500 }).default(50),
  offset: intQuery({ min: 0, max: 10_000_000 }).default(0),
});
export type AlarmQuery = z.infer<typeof AlarmQuery>;

export const AlarmPatch = z
  .object({
    state: z.enum(["in-progress", "closed"]).optional(),
    assignee: z.string().min(1).max(100).nullable().optional(),
    comment: z.string().min(1).max(5000).optional(),
  })
  .refine((p) => p.state !== undefined || p.assignee !== undefined || p.comment !== undefined, "give a state, an assignee or a comment");
export type AlarmPatch = z.infer<typeof AlarmPatch>;

export interface NewAlarm {
  priority: number;
  title: string;
  instructions: string;
  siteId: string | null;
  cameraId: string | null;
  eventId: string;
  eventType: string;
  eventTimeMs: number;
  late: boolean;
  ruleId: string;
}

export type AlarmChange = { kind: "created" | "updated"; alarm: Alarm };

export class AlarmError extends Error {
  constructor(
    message: string,
    readonly code: "not-found" | "conflict" | "invalid",
  ) {
    super(message);
  }
}

type Row = [bigint, string, number, string, string, string | null, string | null, string, string, bigint, boolean, string, string | null, bigint, bigint, string | null, string];

const SORTS: Record<AlarmQuery["sort"], string> = {
  time: "event_ms ASC, id ASC",
  "-time": "event_ms DESC, id DESC",
  priority: "priority DESC, event_ms DESC",
  "-priority": "priority ASC, event_ms DESC",
  updated: "updated_ms ASC, id ASC",
  "-updated": "updated_ms DESC, id DESC",
};

export class Alarms {
  private readonly finishedClips = new Map<string, Partial<Pick<Clip, "state" | "url" | "detail">>>();
  private nextId = 1;
  private pending: Row[] = [];
  private pendingAlarms: Alarm[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private listeners = new Set<(c: AlarmChange) => void>();
  private locks = new Map<number, Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly flushMs = 20,
  ) {}

  async init(): Promise<void> {
    await this.db.run(
      `CREATE TABLE IF NOT EXISTS alarms (id BIGINT NOT NULL, state VARCHAR NOT NULL, priority INTEGER NOT NULL, title VARCHAR NOT NULL, instructions VARCHAR NOT NULL, site_id VARCHAR, camera_id VARCHAR, event_id VARCHAR NOT NULL, event_type VARCHAR NOT NULL, event_ms BIGINT NOT NULL, late BOOLEAN NOT NULL, rule_id VARCHAR NOT NULL, assignee VARCHAR, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL, clip VARCHAR, actions VARCHAR NOT NULL)`,
    );
    await this.db.run(`CREATE TABLE IF NOT EXISTS alarm_comments (alarm_id BIGINT NOT NULL, at_ms BIGINT NOT NULL, user_name VARCHAR NOT NULL, text VARCHAR NOT NULL, state VARCHAR)`);
    const r = await this.db.all<{ m: string | null }>(`SELECT max(id) AS m FROM alarms`);
    this.nextId = Number(r[0]?.m ?? 0) + 1;
  }

  /** Change feed: every created or updated alarm, after it is stored. Returns unsubscribe. */
  subscribe(fn: (c: AlarmChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(c: AlarmChange): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch {
        // a broken subscriber must not stop the others
      }
    }
  }

  /** An id for an alarm about to be raised (so actions started before raise() can name it). */
  reserveId(): number {
    return this.nextId++;
  }

  /** Raise an alarm: stored (and pushed) within flushMs. */
  raise(a: NewAlarm, actions: ActionOutcome[] = [], clip: Clip | null = null, id = this.nextId++): number {
    const now = this.clock.now();
    this.pending.push([BigInt(id), "new", a.priority, a.title, a.instructions, a.siteId, a.cameraId, a.eventId, a.eventType, BigInt(a.eventTimeMs), a.late, a.ruleId, null, BigInt(now), BigInt(now), clip ? JSON.stringify(clip) : null, JSON.stringify(actions)]);
    this.pendingAlarms.push(view({ id, state: "new", ...a, assignee: null, createdMs: now, updatedMs: now, clip, actions }));
    if (this.pending.length >= 5000) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
    return id;
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const rows = this.pending;
    const created = this.pendingAlarms;
    this.pending = [];
    this.pendingAlarms = [];
    this.chain = this.chain.then(async () => {
      if (!rows.length) return;
      await this.db.append("alarms", rows);
      if (this.listeners.size) for (const alarm of created) this.emit({ kind: "created", alarm });
    });
    return this.chain;
  }

  /** `scope`: SQL visibility filter from central/rights (sqlScope). */
  async list(q: AlarmQuery, scope: { sql: string; params: string[] }): Promise<{ alarms: Alarm[]; total: number; limit: number; offset: number }> {
    await this.flush();
    const where: string[] = [];
    const p: (string | number | bigint)[] = [];
    const add = (sql: string, v: string | number | bigint) => (p.push(v), where.push(sql.replace("?", `$${p.length}`)));
    if (q.state) {
      const states = q.state.split(",");
      const ph = states.map((s) => (p.push(s), `$${p.length}`));
      where.push(`state IN (${ph.join(", ")})`);
    }
    if (q.priority) add("priority <= ?", q.priority);
    if (q.site) add("site_id = ?", q.site);
    if (q.camera) add("camera_id = ?", q.camera);
    if (q.assignee) add("assignee = ?", q.assignee);
    if (q.from) add("event_ms >= ?", BigInt(Date.parse(q.from)));
    if (q.to) add("event_ms < ?", BigInt(Date.parse(q.to)));
    const off = p.length;
    where.push(scope.sql.replace(/\$P(\d+)/g, (_, n) => `$${Number(n) + off}`));
    p.push(...scope.params);
    const w = where.join(" AND ");
    // Two statements: a window count would make DuckDB materialise every matching row before the top-N.
    const page = () => this.db.all<Record<string, string | number | boolean | null>>(`SELECT * FROM alarms WHERE ${w} ORDER BY ${SORTS[q.sort]} LIMIT $${p.length + 1} OFFSET $${p.length + 2}`, [...p, BigInt(q.limit), BigInt(q.offset)]);
    const stats = q.sort === "-time" || q.sort === "time" || w === "TRUE" ? await this.stats() : null;
    const bound = stats && (q.sort === "-time" || q.sort === "time") ? timeBound(stats, q.sort, q.offset + q.limit) : null;
    let rows = bound === null ? null : await this.boundedPage(w, p, q, bound);
    // The bounded slice is exact when it holds the whole page (every row outside it sorts after
    // every row inside); otherwise ask the whole table.
    if (rows === null || rows.length < q.limit) rows = await page();
    const total =
      rows.length < q.limit && (rows.length > 0 || q.offset === 0)
        ? q.offset + rows.length
        : w === "TRUE" && stats
          ? stats.n
          : Number((await this.db.all<{ n: string }>(`SELECT count(*) AS n FROM alarms WHERE ${w}`, p))[0]?.n ?? 0);
    return { alarms: rows.map(fromRow), total, limit: q.limit, offset: q.offset };
  }

  /**
   * The page from the slice on the near side of `bound`, in two steps: the ids (a top-N over two
   * columns of the few row groups past the bound), then those rows. One `SELECT *` top-N would
   * have DuckDB fetch the page's columns by a scan of every row group (late materialization
   * does not carry the bound), which is most of the cost at 1 M alarms.
   */
  private async boundedPage(w: string, p: (string | number | bigint)[], q: AlarmQuery, bound: bigint): Promise<Record<string, string | number | boolean | null>[]> {
    // The near side of the bound, as one more WHERE piece (no SQL text from values: the guard test).
    const near = q.sort === "-time" ? "event_ms >= " : "event_ms <= ";
    const n = p.length;
    const where = [w, `${near}$${n + 1}`];
    const ids = (await this.db.all<{ id: string }>(`SELECT id FROM alarms WHERE ${where.join(" AND ")} ORDER BY ${SORTS[q.sort]} LIMIT $${n + 2} OFFSET $${n + 3}`, [...p, bound, BigInt(q.limit), BigInt(q.offset)])).map((r) => BigInt(r.id));
    if (ids.length < q.limit) return [];
    const ph = ids.map((_, i) => `$${i + 2}`);
    where.splice(0, where.length, `${near}$1`, `id IN (${ph.join(", ")})`);
    const rows = await this.db.all<Record<string, string | number | boolean | null>>(`SELECT * FROM alarms WHERE ${where.join(" AND ")}`, [bound, ...ids]);
    const byId = new Map(rows.map((r) => [String(r.id), r]));
    const page = ids.map((id) => byId.get(String(id)));
    // Ids are unique; if they ever were not, the plain query decides.
    return rows.length === ids.length && page.every((r) => r !== undefined) ? (page as Record<string, string | number | boolean | null>[]) : [];
  }

  /** Row count and event-time span of the whole table (DuckDB answers these from its statistics). */
  private async stats(): Promise<TableStats> {
    const s = (await this.db.all<{ n: string; lo: string | null; hi: string | null }>(`SELECT count(*) AS n, min(event_ms) AS lo, max(event_ms) AS hi FROM alarms`))[0];
    return { n: Number(s?.n ?? 0), lo: s?.lo == null ? null : BigInt(s.lo), hi: s?.hi == null ? null : BigInt(s.hi) };
  }

  async get(id: number, withComments = true): Promise<Alarm | null> {
    await this.flush();
    const rows = await this.db.all<Record<string, string | number | boolean | null>>(`SELECT * FROM alarms WHERE id = $1`, [BigInt(id)]);
    if (!rows[0]) return null;
    const a = fromRow(rows[0]);
    if (withComments) {
      const cs = await this.db.all<Record<string, string | null>>(`SELECT * FROM alarm_comments WHERE alarm_id = $1 ORDER BY at_ms, rowid`, [BigInt(id)]);
      a.comments = cs.map((c) => ({ at: new Date(Number(c.at_ms)).toISOString(), user: c.user_name!, text: c.text!, state: (c.state as AlarmState | null) ?? null }));
    }
    return a;
  }

  /** The workflow: new → in-progress (assigned) → closed; closed alarms stay closed. */
  async update(id: number, p: AlarmPatch, by: string): Promise<Alarm> {
    const a = await this.get(id, false);
    if (!a) throw new AlarmError(`No alarm with id ${id}.`, "not-found");
    if (a.state === "closed" && (p.state || p.assignee !== undefined)) throw new AlarmError(`Alarm ${id} is closed; a closed alarm cannot be reopened or reassigned (comments are still allowed).`, "conflict");
    if (p.state === "in-progress" && a.state === "in-progress" && p.assignee === undefined) throw new AlarmError(`Alarm ${id} is already in progress (assigned to ${a.assignee}).`, "conflict");
    let state = a.state;
    let assignee = a.assignee;
    if (p.state === "in-progress") {
      state = "in-progress";
      assignee = p.assignee ?? by;
    } else if (p.state === "closed") {
      state = "closed";
    }
    if (p.assignee !== undefined && p.state !== "in-progress") {
      assignee = p.assignee;
      if (assignee && state === "new") state = "in-progress";
    }
    const now = this.clock.now();
    await this.db.run(`UPDATE alarms SET state = $2, assignee = $3, updated_ms = $4 WHERE id = $1`, [BigInt(id), state, assignee, BigInt(now)]);
    const note = p.comment ?? (state !== a.state ? `state ${a.state} → ${state}` : assignee !== a.assignee ? `assigned to ${assignee ?? "nobody"}` : null);
    if (note) await this.db.run(`INSERT INTO alarm_comments VALUES ($1, $2, $3, $4, $5)`, [BigInt(id), BigInt(now), by, note, state !== a.state ? state : null]);
    return this.changed(id);
  }

  /** Read-modify-write of one alarm's JSON columns, one at a time per alarm. */
  private serial(id: number, fn: () => Promise<void>): Promise<void> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  /** Record the (late) outcome of a rule action on the alarm, e.g. a webhook that finally failed. */
  setAction(id: number, index: number, outcome: ActionOutcome): Promise<void> {
    return this.serial(id, async () => {
      const a = await this.get(id, false);
      if (!a) return;
      const actions = [...a.actions];
      actions[index] = outcome;
      await this.db.run(`UPDATE alarms SET actions = $2, updated_ms = $3 WHERE id = $1`, [BigInt(id), JSON.stringify(actions), BigInt(this.clock.now())]);
      await this.changed(id);
    });
  }

  setClip(id: number, clipIn: Clip): Promise<void> {
    const done = clipIn.retrievalId ? this.finishedClips.get(clipIn.retrievalId) : undefined;
    const clip = done && clipIn.state === "requested" ? { ...clipIn, ...done } : clipIn;
    return this.serial(id, async () => {
      await this.flush();
      await this.db.run(`UPDATE alarms SET clip = $2, updated_ms = $3 WHERE id = $1`, [BigInt(id), JSON.stringify(clip), BigInt(this.clock.now())]);
      await this.changed(id);
    });
  }

  /**
   * Attach (or update) the clip of every alarm waiting for this retrieval; the transfer engine
   * calls this when a retrieval completes or fails. Returns the alarm ids touched.
   */
  async attachClip(retrievalId: string, clip: Partial<Pick<Clip, "state" | "url" | "detail">>): Promise<number[]> {
    // A retrieval can finish before the rule has written its id into the alarm (footage already
    // at central): keep the outcome so setClip applies it when the id arrives.
    // The outcome replaces the "requested …" sentence: an attached clip must not still say requested.
    const outcome = { ...clip, detail: clip.detail ?? CLIP_OUTCOME[clip.state ?? ""] ?? "" };
    this.finishedClips.set(retrievalId, outcome);
    if (this.finishedClips.size > 10_000) this.finishedClips.delete(this.finishedClips.keys().next().value!);
    await this.flush();
    const rows = await this.db.all<{ id: string; clip: string }>(`SELECT id, clip FROM alarms WHERE json_extract_string(clip, '$.retrievalId') = $1`, [retrievalId]);
    for (const r of rows) await this.setClip(Number(r.id), { ...(JSON.parse(r.clip) as Clip), ...outcome });
    return rows.map((r) => Number(r.id));
  }

  private async changed(id: number): Promise<Alarm> {
    const a = (await this.get(id))!;
    this.emit({ kind: "updated", alarm: a });
    return a;
  }

  async close(): Promise<void> {
    await this.flush();
    this.listeners.clear();
  }
}

interface TableStats {
  n: number;
  lo: bigint | null;
  hi: bigint | null;
}

/**
 * For a time-sorted page of `need` rows: an event time such that the newest (or oldest) slice
 * from there probably holds `need` rows, or null when the table is small enough to sort whole.
 * DuckDB sorts by scanning; a bound on event_ms lets it skip row groups by their min/max (alarms
 * are appended in about event-time order), so the newest page reads about one row group instead
 * of every row. The guess assumes alarms spread evenly over time, with 8× headroom for filters;
 * a short slice falls back to the whole table, so the guess only costs time, never rows.
 */
function timeBound(s: TableStats, sort: "time" | "-time", need: number): bigint | null {
  if (s.n < 16 * need || s.lo === null || s.hi === null) return null;
  const span = ((s.hi - s.lo) * BigInt(8 * need)) / BigInt(s.n) + 1n;
  return sort === "-time" ? s.hi - span : s.lo + span;
}

interface Parts extends NewAlarm {
  id: number;
  state: AlarmState;
  assignee: string | null;
  createdMs: number;
  updatedMs: number;
  clip: Clip | null;
  actions: ActionOutcome[];
}

function view(p: Parts): Alarm {
  const t = (ms: number) => new Date(ms).toISOString();
  const cam = p.cameraId ? `/api/v1/cameras/${encodeURIComponent(p.cameraId)}` : null;
  const win = `from=${t(p.eventTimeMs - 30_000)}&to=${t(p.eventTimeMs + 30_000)}`;
  return {
    id: p.id,
    state: p.state,
    priority: p.priority,
    title: p.title,
    instructions: p.instructions,
    siteId: p.siteId,
    cameraId: p.cameraId,
    eventId: p.eventId,
    eventType: p.eventType,
    eventTime: t(p.eventTimeMs),
    late: p.late,
    ruleId: p.ruleId,
    assignee: p.assignee,
    createdAt: t(p.createdMs),
    updatedAt: t(p.updatedMs),
    clip: p.clip,
    actions: p.actions,
    links: { camera: cam, video: cam && `${cam}/video?${win}`, timeline: cam && `${cam}/timeline?${win}`, event: `/api/v1/events?camera=${encodeURIComponent(p.cameraId ?? "")}&from=${t(p.eventTimeMs)}&to=${t(p.eventTimeMs + 1)}` },
  };
}

function fromRow(r: Record<string, string | number | boolean | null>): Alarm {
  return view({
    id: Number(r.id),
    state: r.state as AlarmState,
    priority: Number(r.priority),
    title: r.title as string,
    instructions: r.instructions as string,
    siteId: (r.site_id as string | null) ?? null,
    cameraId: (r.camera_id as string | null) ?? null,
    eventId: r.event_id as string,
    eventType: r.event_type as string,
    eventTimeMs: Number(r.event_ms),
    late: r.late === true,
    ruleId: r.rule_id as string,
    assignee: (r.assignee as string | null) ?? null,
    createdMs: Number(r.created_ms),
    updatedMs: Number(r.updated_ms),
    clip: r.clip ? (JSON.parse(r.clip as string) as Clip) : null,
    actions: JSON.parse(r.actions as string) as ActionOutcome[],
  });
}
