/**
 * central/events/: the one event model (edge, link, system and external events) and its store.
 * Owns the events table, de-duplication by event id, and `ingest` — the single entry point the
 * control plane (edge events from the outbox), central's own components and the integration
 * API call. Each event keeps its original time and its arrival time; an event that arrives
 * more than `lateAfterMs` after it happened is marked late. Ingest hands each new event to the
 * rule engine (onEvent) with its original time. The table is in central's database
 * (central/db, migrations 0004 and 0012); writes are batched (copyRows into a staging table,
 * then one INSERT … ON CONFLICT DO NOTHING).
 *
 * De-duplication is cluster-wide: recent ids in memory catch a repeat on this node at once,
 * and the unique index on events.id catches one another node stored (a producer's retry after
 * a failover): such an event is neither stored nor acted on again. Rules therefore see an
 * event once its row is in (right after the batch's commit, in ingest order), not before.
 * Must not know about MQTT or HTTP.
 */
import { z } from "zod";
import { intQuery } from "../../lib/http/query.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Database, SqlValue } from "../db/index.ts";

/** Known types (others are allowed: integrations name their own, e.g. "external.door-forced"). */
export const KNOWN_EVENT_TYPES = [
  "motion",
  "onvif",
  "input",
  "panic",
  "camera.offline",
  "camera.online",
  "disk",
  "tamper",
  "site.online",
  "site.offline",
  "cert.expiring",
  "budget.near-limit",
  "footage.at-risk",
] as const;

export const EventType = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "lower-case letters, digits and . _ - (e.g. motion, camera.offline)")
  .describe(`event type, e.g. ${KNOWN_EVENT_TYPES.join(", ")}`);

export const EventSource = z.enum(["edge", "link", "system", "external"]);

/** What producers hand to ingest(). */
export const EventInput = z.object({
  /** Producer's id; the same id ingested twice is stored and acted on once. Generated when missing. */
  id: z.string().min(1).max(200).optional(),
  type: EventType,
  /** When it happened (original time, ISO 8601). */
  time: z.iso.datetime({ offset: true }),
  source: EventSource,
  /** Who produced it beyond the kind: the integration's API key name, the component, … */
  origin: z.string().max(200).nullable().optional(),
  siteId: z.string().min(1).max(200).nullable().optional(),
  cameraId: z.string().min(1).max(200).nullable().optional(),
  /** Set by a producer that knows the event was held back (store-and-forward backlog). */
  late: z.boolean().optional(),
  data: z.record(z.string(), z.unknown()).default({}),
});
export type EventInput = z.input<typeof EventInput>;

export const Event = z.object({
  id: z.string(),
  type: z.string(),
  time: z.string().describe("original time"),
  arrivedAt: z.string().describe("when central received it"),
  late: z.boolean(),
  source: EventSource,
  origin: z.string().nullable(),
  siteId: z.string().nullable(),
  cameraId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
});
export type Event = z.infer<typeof Event>;

/** Event with times as numbers, as the rule engine sees it. */
export interface EventRec extends Event {
  timeMs: number;
  arrivedMs: number;
}

export interface IngestResult {
  event: Event;
  duplicate: boolean;
}

export const EventQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional().describe("original time ≥"),
  to: z.iso.datetime({ offset: true }).optional().describe("original time <"),
  site: z.string().optional(),
  camera: z.string().optional(),
  type: z.string().optional().describe("exact type, or a prefix ending in * (camera.*)"),
  source: EventSource.optional(),
  late: z.enum(["true", "false"]).optional(),
  limit: intQuery({ min: 1, max: 1000 }).default(100),
  offset: intQuery({ min: 0, max: 1_000_000 }).default(0),
});
export type EventQuery = z.infer<typeof EventQuery>;

export interface EventsOptions {
  db: Database;
  clock: Clock;
  lateAfterMs: number;
  /** Camera → site, to fill a missing siteId (rights filter on both). */
  siteOf?: (cameraId: string) => string | null;
  /** Called once per new (non-duplicate) event once this node stored it, in ingest order. */
  onEvent?: (e: EventRec) => void;
  /** How many recent event ids are remembered for de-duplication. */
  dedupWindow?: number;
  flushMs?: number;
}

type Row = [string, number, number, boolean, string, string | null, string, string | null, string | null, string];
const COLUMNS = ["id", "time_ms", "arrived_ms", "late", "source", "origin", "type", "site_id", "camera_id", "data"];

export class EventError extends Error {}

/** An event waiting for the next flush, and its producer's promise (resolved: stored here, or a duplicate another node stored). */
interface Pending {
  row: Row;
  rec: EventRec;
  resolve(stored: boolean): void;
  reject(e: unknown): void;
}

export class Events {
  private seen = new Set<string>();
  private pending: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();
  onEvent: ((e: EventRec) => void) | undefined;

  constructor(private readonly o: EventsOptions) {
    this.onEvent = o.onEvent;
  }

  async init(): Promise<void> {
    const max = this.o.dedupWindow ?? 1_000_000;
    for (const r of await this.o.db.query<{ id: string }>(`SELECT id FROM events ORDER BY arrived_ms DESC LIMIT $1`, [max])) this.seen.add(r.id);
  }

  /**
   * Validate, de-duplicate, store and run rules. The promise resolves once the event is durably
   * stored (by this node, or — `duplicate` — by another before), so a producer may acknowledge then.
   */
  ingest(input: EventInput): Promise<IngestResult> {
    let rec: EventRec;
    try {
      rec = this.build(input);
    } catch (e) {
      return Promise.reject(e);
    }
    const { id, siteId, cameraId, timeMs, arrivedMs } = rec;
    const { timeMs: _t, arrivedMs: _a, ...event } = rec;
    if (this.seen.has(id)) return Promise.resolve({ event, duplicate: true });
    this.remember(id);
    const row: Row = [id, timeMs, arrivedMs, rec.late, rec.source, rec.origin, rec.type, siteId, cameraId, JSON.stringify(rec.data)];
    const stored = new Promise<boolean>((resolve, reject) => this.pending.push({ row, rec, resolve, reject }));
    if (this.pending.length >= 5000) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.o.flushMs ?? 20);
    return stored.then((inserted) => ({ event, duplicate: !inserted }));
  }

  /** The event as ingest would see it (validated, arrival time now, late flag), without storing or acting. */
  build(input: EventInput): EventRec {
    const r = EventInput.safeParse(input);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new EventError(`invalid event: ${i.path.map(String).join(".") || "event"}: ${i.message}`);
    }
    const e = r.data;
    const arrivedMs = this.o.clock.now();
    const timeMs = Date.parse(e.time);
    const cameraId = e.cameraId ?? null;
    return {
      id: e.id ?? crypto.randomUUID(),
      type: e.type,
      time: new Date(timeMs).toISOString(),
      arrivedAt: new Date(arrivedMs).toISOString(),
      late: e.late === true || arrivedMs - timeMs > this.o.lateAfterMs,
      source: e.source,
      origin: e.origin ?? null,
      siteId: e.siteId ?? (cameraId ? (this.o.siteOf?.(cameraId) ?? null) : null),
      cameraId,
      data: e.data,
      timeMs,
      arrivedMs,
    };
  }

  private remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > (this.o.dedupWindow ?? 1_000_000)) {
      const first = this.seen.values().next().value;
      if (first !== undefined) this.seen.delete(first);
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    this.chain = this.chain.then(async () => {
      if (!batch.length) return;
      let inserted: Set<string>;
      try {
        inserted = await this.store(batch.map((p) => p.row));
      } catch (e) {
        // Not stored: forget the ids so the producer's retry is accepted.
        for (const p of batch) this.seen.delete(p.row[0]);
        for (const p of batch) p.reject(e);
        return;
      }
      for (const p of batch) {
        const fresh = inserted.has(p.row[0]);
        // Acted on where it was stored: another node's copy already ran its rules there.
        if (fresh) {
          try {
            this.onEvent?.(p.rec);
          } catch {
            // The rule engine reports its own failures; the event stays stored.
          }
        }
        p.resolve(fresh);
      }
    });
    return this.chain;
  }

  /** One batch: COPY into a per-connection staging table, then one INSERT that skips ids already stored (by any node). Returns the ids inserted. */
  private async store(rows: Row[]): Promise<Set<string>> {
    const cols = COLUMNS.join(", ");
    const ids = await this.o.db.transaction(async (tx) => {
      await tx.run(`CREATE TEMP TABLE IF NOT EXISTS events_incoming (LIKE events) ON COMMIT DELETE ROWS`);
      await tx.copyRows("events_incoming", COLUMNS, rows as SqlValue[][]);
      return tx.query<{ id: string }>(`INSERT INTO events (${cols}) SELECT ${cols} FROM events_incoming ON CONFLICT (id) DO NOTHING RETURNING id`);
    });
    return new Set(ids.map((r) => r.id));
  }

  async query(q: EventQuery, scope: { sql: string; params: string[] }): Promise<{ events: Event[] }> {
    await this.flush();
    const where: string[] = [];
    const p: (string | number | boolean)[] = [];
    const add = (sql: string, v: string | number | boolean) => (p.push(v), where.push(sql.replace("?", `$${p.length}`)));
    if (q.from) add("time_ms >= ?", Date.parse(q.from));
    if (q.to) add("time_ms < ?", Date.parse(q.to));
    if (q.site) add("site_id = ?", q.site);
    if (q.camera) add("camera_id = ?", q.camera);
    if (q.type) q.type.endsWith("*") ? add("starts_with(type, ?)", q.type.slice(0, -1)) : add("type = ?", q.type);
    if (q.source) add("source = ?", q.source);
    if (q.late) add("late = ?", q.late === "true");
    const off = p.length;
    where.push(scope.sql.replace(/\$P(\d+)/g, (_, n) => `$${Number(n) + off}`));
    p.push(...scope.params);
    const rows = await this.o.db.query<Record<string, string | number | boolean | null>>(
      `SELECT * FROM events WHERE ${where.join(" AND ")} ORDER BY time_ms DESC, id LIMIT $${p.length + 1} OFFSET $${p.length + 2}`,
      [...p, q.limit, q.offset],
    );
    return {
      events: rows.map((r) => ({
        id: r.id as string,
        type: r.type as string,
        time: new Date(Number(r.time_ms)).toISOString(),
        arrivedAt: new Date(Number(r.arrived_ms)).toISOString(),
        late: r.late === true,
        source: r.source as Event["source"],
        origin: (r.origin as string | null) ?? null,
        siteId: (r.site_id as string | null) ?? null,
        cameraId: (r.camera_id as string | null) ?? null,
        data: JSON.parse(r.data as string) as Record<string, unknown>,
      })),
    };
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
