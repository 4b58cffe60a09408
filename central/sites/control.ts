/**
 * Central side of store-and-forward: every `up` message is deduplicated by (site, outbox id,
 * seq), applied in seq order inside one DuckDB transaction per batch, and only then acked
 * (cumulative ack = the site's highest stored seq). Also answers hello, compares index
 * digests with the mirror (asks the edge to re-send differing days), keeps desired configs
 * (retained delivery) and commands (re-sent on hello until answered or expired).
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { DAY_MS, Hello, dayDigests, parseMessage, parseUp, parseSiteTopic, peekSeq, topics, centralCameraId, type UpMessage, type UpBody, PROTOCOL_VERSION } from "../../federation/protocol/index.ts";
import type { Db } from "../db.ts";
import type { Bus } from "./bus.ts";
import { lit, rowsSql } from "./mirror.ts";

export interface SiteEvent {
  siteId: string;
  /** Central camera id (`<site>.<camera>`), when the event names a camera. */
  cameraId: string | null;
  eventId: string;
  /** Edge events keep their kind; control-plane notices use `outpost.*` kinds. */
  kind: string;
  atMs: number;
  data: Record<string, unknown>;
}

export interface ControlOptions {
  db: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  onSiteEvent?: (e: SiteEvent) => void;
  /** Messages from ids central does not know (external broker) are dropped. */
  siteExists?: (siteId: string) => boolean;
}

type Item = { kind: "up"; siteId: string; payload: Buffer } | { kind: "hello"; siteId: string; payload: Buffer };

export class ControlPlane {
  private queue: Item[] = [];
  private running: Promise<void> | null = null;
  private readonly last = new Map<string, number>();
  readonly lastSeen = new Map<string, number>();
  readonly latestHealth = new Map<string, { atMs: number; body: UpBody<"health"> }>();
  stats = { applied: 0, duplicates: 0, rejected: 0, batches: 0, maxBatchMs: 0, slowBatches: 0 };
  /** Per message: edge enqueue time → stored at central (for the scale benchmark). */
  onStored: ((m: { siteId: string; type: string; at: number; storedAt: number }) => void) | null = null;

  constructor(private readonly o: ControlOptions) {}

  async init(): Promise<void> {
    for (const r of await this.o.db.all<{ site_id: string; ob: string; last_seq: string }>(`SELECT site_id, ob, last_seq FROM cp_seq`)) {
      this.last.set(`${r.site_id}\u0000${r.ob}`, Number(r.last_seq));
    }
    await this.o.bus.subscribe(topics.allUp, (t, p) => this.enqueue("up", t, p));
    await this.o.bus.subscribe(topics.allHello, (t, p) => this.enqueue("hello", t, p));
  }

  private enqueue(kind: Item["kind"], topic: string, payload: Buffer): void {
    const st = parseSiteTopic(topic);
    if (!st) return;
    if (this.o.siteExists && !this.o.siteExists(st.siteId)) {
      this.o.log.warn("message from an unknown or revoked site ignored", { site: st.siteId });
      return;
    }
    this.lastSeen.set(st.siteId, this.o.clock.now());
    this.queue.push({ kind, siteId: st.siteId, payload });
    if (!this.running) this.running = this.drain();
  }

  /** Resolves when everything received so far is stored (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, 2000);
        await this.process(batch);
      }
    } finally {
      this.running = null;
    }
  }

  private async process(batch: Item[]): Promise<void> {
    const t0 = performance.now();
    try {
      await this.processBatch(batch);
    } finally {
      const ms = performance.now() - t0;
      this.stats.maxBatchMs = Math.max(this.stats.maxBatchMs, ms);
      if (ms > 500) {
        this.stats.slowBatches++;
        this.o.log.warn("slow control-plane batch", { ms: Math.round(ms), messages: batch.length });
      }
    }
  }

  private async processBatch(batch: Item[]): Promise<void> {
    const db = this.o.db;
    const now = this.o.clock.now();
    const before = new Map(this.last);
    const ackSites = new Map<string, { siteId: string; ob: string }>();
    const events: SiteEvent[] = [];
    const after: (() => Promise<void>)[] = [];
    const stored: { siteId: string; type: string; at: number }[] = [];
    const hellos: { siteId: string; hello: Hello }[] = [];
    const evRows: (string | number | null)[][] = [];
    const sql: string[] = [];
    // Row inserts are gathered across messages (one statement per table per batch) and keyed,
    // so a re-sent row replaces, never collides; any DELETE first flushes what came before it.
    const rows = { seg: new Map<string, (string | number)[]>(), gap: new Map<string, (string | number)[]>(), health: [] as (string | number)[][], telemetry: [] as (string | number | null)[][] };
    const flushRows = () => {
      if (evRows.length) sql.push(`INSERT INTO cp_events (site_id, ob, seq, event_id, camera_id, kind, at_ms, data, received_ms) VALUES ${rowsSql(evRows)}`);
      if (rows.seg.size) sql.push(`INSERT OR REPLACE INTO cp_segments VALUES ${rowsSql([...rows.seg.values()])}`);
      if (rows.gap.size) sql.push(`INSERT OR REPLACE INTO cp_gaps VALUES ${rowsSql([...rows.gap.values()])}`);
      if (rows.health.length) sql.push(`INSERT INTO cp_health VALUES ${rowsSql(rows.health)}`);
      if (rows.telemetry.length) sql.push(`INSERT INTO cp_telemetry VALUES ${rowsSql(rows.telemetry)}`);
      evRows.length = 0;
      rows.seg.clear();
      rows.gap.clear();
      rows.health.length = 0;
      rows.telemetry.length = 0;
    };
    for (const it of batch) {
      if (it.kind === "hello") {
        const h = parseMessage(Hello, it.payload);
        if (!h.ok) this.o.log.warn("hello ignored", { site: it.siteId, reason: h.reason });
        else hellos.push({ siteId: it.siteId, hello: h.msg });
        continue;
      }
      const p = parseUp(it.payload);
      const peek = p.ok ? { ob: p.msg.ob, seq: p.msg.seq } : peekSeq(it.payload);
      if (!peek) {
        this.o.log.warn("message without outbox id/seq ignored", { site: it.siteId, reason: p.ok ? "" : p.reason });
        continue;
      }
      const key = `${it.siteId}\u0000${peek.ob}`;
      const last = this.last.get(key) ?? 0;
      ackSites.set(key, { siteId: it.siteId, ob: peek.ob });
      if (peek.seq <= last) {
        this.stats.duplicates++;
        continue;
      }
      this.last.set(key, peek.seq);
      if (!p.ok) {
        // Stepped over (acked) so one bad message cannot block the edge's queue forever.
        this.stats.rejected++;
        this.o.log.warn("message rejected", { site: it.siteId, seq: peek.seq, reason: p.reason });
        continue;
      }
      this.stats.applied++;
      stored.push({ siteId: it.siteId, type: p.msg.type, at: p.msg.at });
      const m = p.msg;
      if (m.type === "event" || m.type === "dropped") {
        const e: SiteEvent =
          m.type === "event"
            ? { siteId: it.siteId, cameraId: m.body.cameraId ? centralCameraId(it.siteId, m.body.cameraId) : null, eventId: m.body.eventId, kind: m.body.kind, atMs: m.body.atMs, data: m.body.data ?? {} }
            : { siteId: it.siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.telemetry-dropped", atMs: m.at, data: m.body };
        evRows.push([it.siteId, m.ob, m.seq, e.eventId, e.cameraId, e.kind, e.atMs, JSON.stringify(e.data), now]);
        events.push(e);
        continue;
      }
      this.apply(it.siteId, m, now, sql, after, events, rows, flushRows);
    }
    flushRows();
    for (const [key, v] of ackSites) {
      const seq = this.last.get(key)!;
      if (seq !== before.get(key)) sql.push(`INSERT OR REPLACE INTO cp_seq VALUES (${lit(v.siteId)}, ${lit(v.ob)}, ${seq})`);
    }
    if (sql.length) {
      try {
        await db.run("BEGIN TRANSACTION");
        for (const s of sql) await db.run(s);
        await db.run("COMMIT");
      } catch (e) {
        await db.run("ROLLBACK").catch(() => undefined);
        this.last.clear();
        for (const [k, v] of before) this.last.set(k, v);
        this.o.log.error("control-plane batch not stored; the edges will resend it", { err: e as Error, messages: batch.length });
        return;
      }
    }
    this.stats.batches++;
    const storedAt = this.o.clock.now();
    if (this.onStored) for (const s of stored) this.onStored({ ...s, storedAt });
    for (const [key, v] of ackSites) await this.publishAck(v.siteId, v.ob, this.last.get(key) ?? 0);
    for (const h of hellos) await this.onHello(h.siteId, h.hello);
    for (const f of after) await f().catch((e) => this.o.log.error("post-commit step failed", { err: e as Error }));
    for (const e of events) {
      try {
        this.o.onSiteEvent?.(e);
      } catch (err) {
        this.o.log.error("onSiteEvent handler failed", { err: err as Error });
      }
    }
  }

  private apply(
    siteId: string,
    m: UpMessage,
    now: number,
    sql: string[],
    after: (() => Promise<void>)[],
    events: SiteEvent[],
    rows: { seg: Map<string, (string | number)[]>; gap: Map<string, (string | number)[]>; health: (string | number)[][]; telemetry: (string | number | null)[][] },
    flushRows: () => void,
  ): void {
    const s = lit(siteId);
    switch (m.type) {
      case "index": {
        const b = m.body;
        const where = `site_id = ${s} AND camera_id = ${lit(b.cameraId)} AND stream = ${lit(b.stream)}`;
        if (b.replace) {
          flushRows();
          sql.push(`DELETE FROM cp_segments WHERE ${where} AND start_ms >= ${b.replace.fromMs} AND start_ms < ${b.replace.toMs}`);
          sql.push(`DELETE FROM cp_gaps WHERE ${where} AND start_ms >= ${b.replace.fromMs} AND start_ms < ${b.replace.toMs}`);
        }
        const k = `${siteId}/${b.cameraId}/${b.stream}/`;
        for (const [a, e, by] of b.segments) rows.seg.set(k + a, [siteId, b.cameraId, b.stream, a, e, by]);
        for (const [a, e, r] of b.gaps) rows.gap.set(k + a, [siteId, b.cameraId, b.stream, a, e, r]);
        return;
      }
      case "locks": {
        flushRows();
        sql.push(`DELETE FROM cp_locks WHERE site_id = ${s} AND camera_id = ${lit(m.body.cameraId)}`);
        if (m.body.locks.length) sql.push(`INSERT INTO cp_locks VALUES ${rowsSql(m.body.locks.map((l) => [siteId, m.body.cameraId, l.id, l.startMs, l.endMs, l.reason, l.expiresAtMs ?? null]))}`);
        return;
      }
      case "tree": {
        flushRows();
        sql.push(`DELETE FROM cp_cameras WHERE site_id = ${s}`);
        if (m.body.cameras.length) sql.push(`INSERT INTO cp_cameras VALUES ${rowsSql(m.body.cameras.map((c) => [siteId, c.id, c.name, c.enabled, JSON.stringify(c.streams), now]))}`);
        events.push({ siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.device-tree", atMs: m.at, data: { cameras: m.body.cameras.map((c) => c.id) } });
        return;
      }
      case "health": {
        rows.health.push([siteId, m.at, now, JSON.stringify(m.body)]);
        const cur = this.latestHealth.get(siteId);
        if (!cur || cur.atMs <= m.at) this.latestHealth.set(siteId, { atMs: m.at, body: m.body });
        return;
      }
      case "digest": {
        for (const st of m.body.streams) {
          sql.push(`INSERT OR REPLACE INTO cp_retention VALUES (${s}, ${lit(st.cameraId)}, ${lit(st.stream)}, ${lit(st.horizonMs)}, ${now})`);
        }
        // Compared after commit: the mirror then holds every message the edge sent before the digest.
        after.push(() => this.compareDigest(siteId, m.body));
        return;
      }
      case "config-status": {
        const b = m.body;
        sql.push(`INSERT OR REPLACE INTO cp_applied VALUES (${s}, ${b.version}, ${lit(b.state)}, ${lit(b.reason ?? null)}, ${m.at})`);
        if (b.state === "rejected") events.push({ siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.config-rejected", atMs: m.at, data: { version: b.version, reason: b.reason ?? "" } });
        return;
      }
      case "command-result": {
        const b = m.body;
        sql.push(
          `UPDATE cp_commands SET status = ${lit(b.status)}, result = ${lit(b.result === undefined ? null : JSON.stringify(b.result))}, error = ${lit(b.error ?? null)}, done_ms = ${now} WHERE id = ${lit(b.commandId)} AND site_id = ${s}`,
        );
        return;
      }
      case "telemetry": {
        const b = m.body;
        rows.telemetry.push([siteId, m.ob, m.seq, b.kind, b.cameraId ? centralCameraId(siteId, b.cameraId) : null, b.atMs, JSON.stringify(b.data)]);
        // Edge log lines (warnings/errors) go on to the system log, once (after the seq check above).
        if (b.kind === "log") events.push({ siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.log", atMs: b.atMs, data: b.data });
        return;
      }
      case "event":
      case "dropped":
        return;
    }
  }

  private async publishAck(siteId: string, ob: string, upTo: number): Promise<void> {
    await this.o.bus.publish(topics.ack(siteId), JSON.stringify({ v: PROTOCOL_VERSION, ob, upTo, centralAt: this.o.clock.now() }));
  }

  private async onHello(siteId: string, h: Hello): Promise<void> {
    await this.publishAck(siteId, h.ob, this.last.get(`${siteId}\u0000${h.ob}`) ?? 0);
    // Commands published while the edge was away were lost with its session: send them again.
    const now = this.o.clock.now();
    const pending = await this.o.db.all<{ id: string; name: string; args: string; expires_ms: string }>(
      `SELECT id, name, args, expires_ms FROM cp_commands WHERE site_id = $1 AND status = 'pending' AND expires_ms > $2 ORDER BY created_ms`,
      [siteId, now],
    );
    for (const c of pending) await this.sendCommand(siteId, c.id, c.name, JSON.parse(c.args) as Record<string, unknown>, Number(c.expires_ms));
  }

  async sendCommand(siteId: string, id: string, name: string, args: Record<string, unknown>, expiresAt: number): Promise<void> {
    await this.o.bus.publish(topics.command(siteId), JSON.stringify({ v: PROTOCOL_VERSION, id, name, args, expiresAt }));
  }

  private async compareDigest(siteId: string, body: UpBody<"digest">): Promise<void> {
    const db = this.o.db;
    for (const st of body.streams) {
      const w = [siteId, st.cameraId, st.stream];
      const segs = await db.all<{ s: string; e: string; b: string }>(
        `SELECT start_ms AS s, end_ms AS e, bytes AS b FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms <= $4`,
        [...w, st.segCutoffMs],
      );
      const gaps = await db.all<{ s: string; e: string; r: string }>(
        `SELECT start_ms AS s, end_ms AS e, reason AS r FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND end_ms <= $4`,
        [...w, st.gapCutoffMs],
      );
      const mine = new Map(dayDigests(segs.map((r) => [Number(r.s), Number(r.e), Number(r.b)]), gaps.map((r) => [Number(r.s), Number(r.e), r.r])).map((d) => [d[0], d]));
      const theirs = new Map(st.days.map((d) => [d[0], d]));
      for (const [day, d] of theirs) {
        const c = mine.get(day);
        if (c && c[1] === d[1] && c[2] === d[2]) continue;
        this.o.log.info("index drift found; asking the edge to re-send a day", { site: siteId, camera: st.cameraId, stream: st.stream, day: new Date(day).toISOString() });
        await this.sendCommand(siteId, `rs-${crypto.randomUUID()}`, "_resync", { cameraId: st.cameraId, stream: st.stream, fromMs: day, toMs: day + DAY_MS }, this.o.clock.now() + 600_000);
      }
      for (const day of mine.keys()) {
        if (theirs.has(day)) continue;
        // The edge has nothing (sent) for this day any more, e.g. retention removed it.
        await db.run(`DELETE FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms < $5 AND start_ms <= $6`, [...w, day, day + DAY_MS, st.segCutoffMs]);
        await db.run(`DELETE FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms < $5 AND end_ms <= $6`, [...w, day, day + DAY_MS, st.gapCutoffMs]);
      }
    }
  }
}
