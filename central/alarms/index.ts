/**
 * central/alarms/: alarms raised by rules and their workflow (new → in-progress (assigned) →
 * closed, with comments), each linked to its camera, time, event and retrieved clip. Owns the
 * alarms and alarm_comments tables and the change feed (subscribe) that the SSE endpoint
 * pushes to clients. Inserts are batched (rules may raise thousands per second); every read
 * and update first flushes, so nothing raised is invisible to a reader. The tables are in
 * central's database (central/db, migration 0004); ids come from the alarms identity sequence,
 * and every change is NOTIFYed on ALARM_CHANNEL so the change feed of every node hears it.
 */
import { z } from "zod";
import { intQuery } from "../../lib/http/query.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Database, Sql } from "../db/index.ts";

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

type Row = [number, string, number, string, string, string | null, string | null, string, string, number, boolean, string, string | null, number, number, string | null, string];
const COLUMNS = ["id", "state", "priority", "title", "instructions", "site_id", "camera_id", "event_id", "event_type", "event_ms", "late", "rule_id", "assignee", "created_ms", "updated_ms", "clip", "actions"];
type Stored = Record<string, string | number | boolean | null>;

const SORTS: Record<AlarmQuery["sort"], string> = {
  time: "event_ms ASC, id ASC",
  "-time": "event_ms DESC, id DESC",
  priority: "priority DESC, event_ms DESC",
  "-priority": "priority ASC, event_ms DESC",
  updated: "updated_ms ASC, id ASC",
  "-updated": "updated_ms DESC, id DESC",
};

/** The NOTIFY channel of alarm changes: payload {node, kind, ids} (alarmNotice). */
export const ALARM_CHANNEL = "outpost_alarms";
/** Ids per notification: PostgreSQL caps a payload at 8000 bytes. */
const IDS_PER_NOTICE = 400;
/** Alarm ids reserved ahead from the table's identity sequence (reserveId is synchronous). */
const ID_POOL = 2000;

export class Alarms {
  private readonly finishedClips = new Map<string, Partial<Pick<Clip, "state" | "url" | "detail">>>();
  /** Ids taken from the sequence, not yet used; `reserved` is the next one to hand out. */
  private ids: number[] = [];
  private reserved = 0;
  private refilling: Promise<void> | null = null;
  private pending: Row[] = [];
  private pendingAlarms: Alarm[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private listeners = new Set<(c: AlarmChange) => void>();
  private locks = new Map<number, Promise<void>>();
  /** Tells this instance's own notifications from another node's. */
  private readonly node = crypto.randomUUID();
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly flushMs = 20,
  ) {}

  async init(): Promise<void> {
    await this.refill();
    // Another node's change wakes this node's change feed (the alarm stream): a hint, the rows are the truth.
    this.unlisten = await this.db.listen(ALARM_CHANNEL, (payload) => void this.heard(payload));
  }

  /** Change feed: every created or updated alarm, after it is stored (on any node). Returns unsubscribe. */
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

  /** A notification from the channel: another node's alarms are read and fed to this node's subscribers. */
  private async heard(payload: string): Promise<void> {
    let n: { node?: unknown; kind?: unknown; ids?: unknown };
    try {
      n = JSON.parse(payload) as typeof n;
    } catch {
      return;
    }
    if (n.node === this.node || !this.listeners.size || !Array.isArray(n.ids) || (n.kind !== "created" && n.kind !== "updated")) return;
    const ids = n.ids.filter((x): x is number => Number.isSafeInteger(x)).slice(0, IDS_PER_NOTICE);
    if (!ids.length) return;
    const ph = ids.map((_, i) => `$${i + 1}`);
    const rows = await this.db.query<Stored>(`SELECT * FROM alarms WHERE id IN (${ph.join(", ")}) ORDER BY id`, ids).catch(() => []);
    for (const r of rows) this.emit({ kind: n.kind, alarm: fromRow(r) });
  }

  /** NOTIFY statements for these ids (in `tx` they are sent at its commit). */
  private async notify(tx: Sql, kind: AlarmChange["kind"], ids: readonly number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += IDS_PER_NOTICE) await tx.query(`SELECT pg_notify($1, $2)`, [ALARM_CHANNEL, JSON.stringify({ node: this.node, kind, ids: ids.slice(i, i + IDS_PER_NOTICE) })]);
  }

  /** Takes ids from the sequence until the pool holds `want` (one statement). */
  private refill(want = ID_POOL): Promise<void> {
    return (this.refilling ??= (async () => {
      try {
        const need = want - (this.ids.length - this.reserved);
        if (need <= 0) return;
        const rows = await this.db.query<{ id: number }>(`SELECT nextval(pg_get_serial_sequence('alarms', 'id')) AS id FROM generate_series(1, $1)`, [need]);
        this.ids = [...this.ids.slice(this.reserved), ...rows.map((r) => Number(r.id))];
        this.reserved = 0;
      } finally {
        this.refilling = null;
      }
    })());
  }

  /**
   * An id for an alarm about to be raised (so actions started before raise() can name it), or
   * null when a burst has used the pool up: then await idsReady() and ask again.
   */
  reserveId(): number | null {
    if (this.ids.length - this.reserved < ID_POOL / 2) void this.refill().catch(() => undefined);
    return this.reserved < this.ids.length ? this.ids[this.reserved++]! : null;
  }

  /** Resolves when reserveId has ids again. */
  idsReady(): Promise<void> {
    return this.reserved < this.ids.length ? Promise.resolve() : this.refill();
  }

  /** Raise an alarm: stored (and pushed) within flushMs. Without an id it takes a reserved one (throws when none is left). */
  raise(a: NewAlarm, actions: ActionOutcome[] = [], clip: Clip | null = null, id = this.reserveId()): number {
    if (id === null) throw new AlarmError("no alarm id reserved yet (await idsReady())", "conflict");
    const now = this.clock.now();
    this.pending.push([id, "new", a.priority, a.title, a.instructions, a.siteId, a.cameraId, a.eventId, a.eventType, a.eventTimeMs, a.late, a.ruleId, null, now, now, clip ? JSON.stringify(clip) : null, JSON.stringify(actions)]);
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
      await this.db.transaction(async (tx) => {
        await tx.copyRows("alarms", COLUMNS, rows);
        await this.notify(tx, "created", created.map((a) => a.id));
      });
      if (this.listeners.size) for (const alarm of created) this.emit({ kind: "created", alarm });
    });
    return this.chain;
  }

  /** `scope`: SQL visibility filter from central/rights (sqlScope). */
  async list(q: AlarmQuery, scope: { sql: string; params: string[] }): Promise<{ alarms: Alarm[]; total: number; limit: number; offset: number }> {
    await this.flush();
    const where: string[] = [];
    const p: (string | number)[] = [];
    const add = (sql: string, v: string | number) => (p.push(v), where.push(sql.replace("?", `$${p.length}`)));
    if (q.state) {
      const states = q.state.split(",");
      const ph = states.map((s) => (p.push(s), `$${p.length}`));
      where.push(`state IN (${ph.join(", ")})`);
    }
    if (q.priority) add("priority <= ?", q.priority);
    if (q.site) add("site_id = ?", q.site);
    if (q.camera) add("camera_id = ?", q.camera);
    if (q.assignee) add("assignee = ?", q.assignee);
    if (q.from) add("event_ms >= ?", Date.parse(q.from));
    if (q.to) add("event_ms < ?", Date.parse(q.to));
    const off = p.length;
    where.push(scope.sql.replace(/\$P(\d+)/g, (_, n) => `$${Number(n) + off}`));
    p.push(...scope.params);
    const w = where.join(" AND ");
    // The sort's index (migration 0004) gives the page without sorting the table.
    const rows = await this.db.query<Stored>(`SELECT * FROM alarms WHERE ${w} ORDER BY ${SORTS[q.sort]} LIMIT $${p.length + 1} OFFSET $${p.length + 2}`, [...p, q.limit, q.offset]);
    // A short page knows its total; the unfiltered one reads the kept count (counting a million rows costs more than the page).
    const total =
      rows.length < q.limit && (rows.length > 0 || q.offset === 0)
        ? q.offset + rows.length
        : w === "TRUE"
          ? Number((await this.db.query<{ n: number }>(`SELECT n FROM alarm_count`))[0]?.n ?? 0)
          : Number((await this.db.query<{ n: number }>(`SELECT count(*) AS n FROM alarms WHERE ${w}`, p))[0]?.n ?? 0);
    return { alarms: rows.map(fromRow), total, limit: q.limit, offset: q.offset };
  }

  async get(id: number, withComments = true): Promise<Alarm | null> {
    await this.flush();
    const rows = await this.db.query<Stored>(`SELECT * FROM alarms WHERE id = $1`, [id]);
    if (!rows[0]) return null;
    const a = fromRow(rows[0]);
    if (withComments) {
      const cs = await this.db.query<Record<string, string | number | null>>(`SELECT * FROM alarm_comments WHERE alarm_id = $1 ORDER BY at_ms, id`, [id]);
      a.comments = cs.map((c) => ({ at: new Date(Number(c.at_ms)).toISOString(), user: String(c.user_name), text: String(c.text), state: (c.state as AlarmState | null) ?? null }));
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
    const note = p.comment ?? (state !== a.state ? `state ${a.state} → ${state}` : assignee !== a.assignee ? `assigned to ${assignee ?? "nobody"}` : null);
    await this.db.transaction(async (tx) => {
      await tx.run(`UPDATE alarms SET state = $2, assignee = $3, updated_ms = $4 WHERE id = $1`, [id, state, assignee, now]);
      if (note) await tx.run(`INSERT INTO alarm_comments (alarm_id, at_ms, user_name, text, state) VALUES ($1, $2, $3, $4, $5)`, [id, now, by, note, state !== a.state ? state : null]);
      await this.notify(tx, "updated", [id]);
    });
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
      await this.db.transaction(async (tx) => {
        await tx.run(`UPDATE alarms SET actions = $2, updated_ms = $3 WHERE id = $1`, [id, JSON.stringify(actions), this.clock.now()]);
        await this.notify(tx, "updated", [id]);
      });
      await this.changed(id);
    });
  }

  setClip(id: number, clipIn: Clip): Promise<void> {
    const done = clipIn.retrievalId ? this.finishedClips.get(clipIn.retrievalId) : undefined;
    const clip = done && clipIn.state === "requested" ? { ...clipIn, ...done } : clipIn;
    return this.serial(id, async () => {
      await this.flush();
      await this.db.transaction(async (tx) => {
        await tx.run(`UPDATE alarms SET clip = $2, updated_ms = $3 WHERE id = $1`, [id, JSON.stringify(clip), this.clock.now()]);
        await this.notify(tx, "updated", [id]);
      });
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
    const rows = await this.db.query<{ id: number; clip: string }>(`SELECT id, clip FROM alarms WHERE clip IS NOT NULL AND (clip::jsonb ->> 'retrievalId') = $1`, [retrievalId]);
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
    await this.unlisten?.().catch(() => undefined);
    this.unlisten = null;
    this.listeners.clear();
  }
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

function fromRow(r: Stored): Alarm {
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
