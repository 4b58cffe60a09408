/**
 * Central side of store-and-forward: every `up` message is deduplicated by (site, outbox id,
 * seq), applied in seq order inside one database transaction per batch, and only then acked
 * (cumulative ack = the site's highest seq that is stored or refused with a reason). A batch
 * the database refuses is split into one transaction per message, so nothing else is lost
 * with the bad one (docs/design/controlplane.md, "Acks and batches"). Also answers hello,
 * compares index digests with the mirror (asks the edge to re-send differing days), keeps
 * desired configs (retained delivery) and commands (re-sent on hello until answered or expired).
 *
 * A batch's transaction (central's database, central/mirror/rows.ts) is fenced: it first checks
 * this node still owns each site's partition (central/cluster fence, FOR SHARE on the partition
 * row), then reads and locks the sites' watermarks (cp_seq FOR UPDATE) and plans against them,
 * so after a partition moves the new owner deduplicates the edge's re-send by what the old
 * owner committed, and a paused old owner cannot commit at all. Track chunks and live positions
 * go to the fleet's DuckDB file (central/fleet analytics) at the end of that transaction.
 *
 * Central accepts any seq > last (dropped telemetry leaves gaps), which is exactly-once only while
 * central hears everything the edge publishes. With an external broker it does not while its own
 * subscription is down (the broker drops what nobody is subscribed to): after each (re)subscribe
 * an outbox's next message is stored only if it follows the watermark, or after the edge's hello
 * or a re-send from its oldest unacknowledged message; otherwise it is held back (`blocked`) and
 * the ack asks for the re-send (`resend`).
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { PositionData, DAY_MS, Hello, dayDigests, parseMessage, parseUp, parseSiteTopic, peekSeq, topics, centralCameraId, type UpMessage, type UpBody, PROTOCOL_VERSION } from "../../federation/protocol/index.ts";
import { toText } from "../../lib/text.ts";
import type { Db } from "../db.ts";
import { sqlState, type Database, type Sql } from "../db/index.ts";
import type { Bus } from "./bus.ts";
import { FLEET_ROW_TABLES, lockWatermarks, watermarkKey, writeRows, type MirrorTable } from "../mirror/index.ts";

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
  /** Central's database: the mirror's cp_* tables. */
  db: Database;
  /** The fleet's DuckDB file (cp_track, cp_position). */
  fleet: Db;
  bus: Bus;
  clock: Clock;
  log: Logger;
  onSiteEvent?: (e: SiteEvent) => void;
  /** Messages from ids central does not know (external broker) are dropped. */
  siteExists?: (siteId: string) => boolean;
  /** The sites this central node handles (central/cluster); absent = every site, on the wildcard topics. */
  ownership?: SiteOwnership;
  /**
   * How long a short queue (under LINGER_BELOW messages) waits for more before its batch starts
   * (default 0). A batch's transaction costs about the same for 1 message as for 10 (fence,
   * watermarks, a statement per table, commit), and a node of a cluster hears only its share of
   * the edges, so it committed ~3.5 messages per transaction where one node committed ~7.5
   * (3,000 edges, 3 nodes vs 1): more CPU per message on the node and on PostgreSQL.
   */
  batchLingerMs?: number;
}

const LINGER_BELOW = 100;

/**
 * Which sites this node's control plane handles (central/cluster: the sites of the partitions
 * it owns). A message of another site is dropped unacknowledged — the edge resends it and its
 * owner stores it — and `subscribe` decides which topics the bus delivers, as ownership changes.
 */
export interface SiteOwnership {
  owns(siteId: string): boolean;
  /**
   * Called when this node loses sites: what it knew of their outboxes' continuity no longer
   * holds (the broker drops what nobody subscribes to while another node owns them).
   */
  onLost?(fn: (lost: (siteId: string) => boolean) => void): void;
  /** Called (and awaited) with the sites this node has just subscribed: taken over from another node, or at start. */
  onGained?(fn: (siteIds: string[]) => void | Promise<void>): void;
  /**
   * Inside a batch's transaction: throws when this node no longer owns a site's partition
   * (central/cluster Leases.fenceAll); the error's `sites` names the sites lost.
   */
  fence?(tx: Sql, siteIds: readonly string[]): Promise<void>;
  subscribe(bus: Bus, receive: (kind: "up" | "hello", topic: string, payload: Buffer) => void): Promise<void>;
}

type Item = { kind: "up"; siteId: string; payload: Buffer } | { kind: "hello"; siteId: string; payload: Buffer };

type Val = string | number | bigint | boolean | null;
/**
 * What storing messages takes, in order: mirror rows (keyed rows replace an earlier one with the
 * same key), statements on the database, and the fleet's rows and statements (DuckDB).
 */
type Op = { table: MirrorTable; key: string | null; row: Val[] } | { sql: string; params: Val[] } | { fleetTable: keyof typeof FLEET_ROW_TABLES; row: Val[] } | { fleetSql: string; params: Val[] };
const big = (n: number) => Math.trunc(n);
const opt = (n: number | null | undefined) => (n === null || n === undefined ? null : big(n));

/** A batch refused by the fence: this node lost the site's partition; the new owner stores the edge's re-send. */
class FencedOut extends Error {
  constructor(
    readonly sites: readonly string[],
    cause: unknown,
  ) {
    super(`not the owner of site(s) ${sites.join(", ")} any more: ${(cause as Error).message}`);
  }
}

/** A batch's work, built before anything is written; applied to the in-memory state only after COMMIT. */
interface Plan {
  ops: Op[];
  /** New watermark per (site, ob) touched. */
  marks: Map<string, { siteId: string; ob: string; seq: number }>;
  /** Every (site, ob) heard from: acked after the batch (re-sends need the ack again). */
  acks: Map<string, { siteId: string; ob: string }>;
  blocked: Map<string, { maxSeen: number }>;
  hellos: { siteId: string; hello: Hello }[];
  /** (site, ob) shown contiguous since the last (re)subscribe; added after COMMIT if the epoch is unchanged. */
  confirm: Set<string>;
  /** (site, ob) held back at a gap after a (re)subscribe: their ack asks for a re-send. */
  resend: Set<string>;
  epoch: number;
  events: SiteEvent[];
  after: (() => Promise<void>)[];
  stored: { siteId: string; type: string; at: number }[];
  health: { siteId: string; atMs: number; body: UpBody<"health"> }[];
  applied: number;
  rejected: number;
  duplicates: number;
}

/** SQLSTATEs after which a batch is run again as it was: deadlock_detected, serialization_failure. */
const TRANSIENT_STATES = new Set(["40P01", "40001"]);
const TRANSIENT_ATTEMPTS = 3;

/** NOTIFY channel of committed device trees (payload: the site id): other nodes' camera lists re-read. */
export const CAMERAS_CHANNEL = "cameras_changed";

const keyOf = (siteId: string, ob: string) => `${siteId}\u0000${ob}`;

export class ControlPlane {
  private queue: Item[] = [];
  private running: Promise<void> | null = null;
  private readonly last = new Map<string, number>();
  /**
   * (site, ob) whose message at `maxSeen` or below could be neither stored nor refused (the
   * database failed): later messages are not stored either — storing them would move the ack
   * past the lost one — until the edge re-sends from its oldest unacknowledged message (seq
   * going back to ≤ maxSeen) or says hello.
   */
  private readonly blocked = new Map<string, { maxSeen: number }>();
  /**
   * (site, ob) whose messages since the bus last (re)subscribed are known to continue the
   * watermark (a message at last + 1, a hello, or a re-send from the oldest). Any other may follow
   * messages the broker dropped while central was not subscribed: storing it would ack past them.
   */
  private readonly confirmed = new Set<string>();
  /** Bumped on every (re)subscribe: a batch planned before it confirms nothing after it. */
  private epoch = 0;
  readonly lastSeen = new Map<string, number>();
  /** Called after a site's track chunk is stored (central/fleet: geofences). */
  onTrack: ((siteId: string, points: UpBody<"track">["points"]) => void | Promise<void>) | undefined;
  readonly latestHealth = new Map<string, { atMs: number; body: UpBody<"health"> }>();
  /** Bumped after a device tree is committed: readers may cache the camera list until it changes. */
  treeVersion = 0;
  /** applied / rejected / duplicates count messages whose outcome is committed. */
  stats = { applied: 0, duplicates: 0, rejected: 0, batches: 0, failedBatches: 0, retriedBatches: 0, maxBatchMs: 0, slowBatches: 0 };
  /** Per message: edge enqueue time → stored at central (for the scale benchmark). */
  onStored: ((m: { siteId: string; type: string; at: number; storedAt: number }) => void) | null = null;

  constructor(private readonly o: ControlOptions) {}

  /** Messages received from the broker and not yet committed (a growing number = central falls behind). */
  get backlog(): number {
    return this.queue.length;
  }

  async init(): Promise<void> {
    for (const r of await this.o.db.query<{ site_id: string; ob: string; last_seq: number }>(`SELECT site_id, ob, last_seq FROM cp_seq`)) {
      this.last.set(keyOf(r.site_id, r.ob), Number(r.last_seq));
    }
    if (this.o.ownership) {
      // A site that comes back later must show again that it continues the (shared) watermark.
      this.o.ownership.onLost?.((lost) => {
        this.epoch++;
        for (const k of [...this.confirmed]) if (lost(k.slice(0, k.indexOf("\u0000")))) this.confirmed.delete(k);
      });
      this.o.ownership.onGained?.((siteIds) => this.askResend(siteIds));
      return this.o.ownership.subscribe(this.o.bus, (kind, t, p) => this.enqueue(kind, t, p));
    }
    await this.o.bus.subscribe(topics.allUp, (t, p) => this.enqueue("up", t, p));
    await this.o.bus.subscribe(topics.allHello, (t, p) => this.enqueue("hello", t, p));
    this.connectionLost(); // what edges published before central subscribed is gone too
    await this.resubscribed();
  }

  /**
   * The bus lost its broker connection: from here on, every outbox has to show it continues the
   * watermark again before a message of it is stored. Called before anything of the next
   * connection is handled.
   */
  connectionLost(): void {
    this.epoch++;
    this.confirmed.clear();
  }

  /**
   * The bus is subscribed again (start, or an external broker's reconnect): what edges published
   * meanwhile is gone (see connectionLost). Each known outbox is asked to re-send now (an ack with
   * `resend`) rather than at its ack timeout; an edge still waiting for its hello's answer takes
   * this ack as that answer.
   */
  async resubscribed(): Promise<void> {
    const acks: Promise<void>[] = [];
    for (const [k, seq] of this.last) {
      const [siteId, ob] = k.split("\u0000") as [string, string];
      if (this.o.siteExists && !this.o.siteExists(siteId)) continue;
      acks.push(this.publishAck(siteId, ob, seq, true));
    }
    await Promise.all(acks);
  }

  /**
   * Sites this node has just taken over: what their edges published while no node subscribed is
   * gone, and an edge in exponential resend backoff would wait for its next try. Each of their
   * outboxes (as the shared watermarks know them) is acknowledged up to what the previous owner
   * stored and asked to re-send the rest now.
   */
  async askResend(siteIds: readonly string[]): Promise<void> {
    const rows = await this.o.db.query<{ site_id: string; ob: string; last_seq: number }>(`SELECT site_id, ob, last_seq FROM cp_seq WHERE site_id IN (SELECT jsonb_array_elements_text($1::jsonb -> 's'))`, [{ s: [...siteIds] }]);
    const acks: Promise<void>[] = [];
    for (const r of rows) {
      if (this.o.siteExists && !this.o.siteExists(r.site_id)) continue;
      const k = keyOf(r.site_id, r.ob);
      const seq = Math.max(Number(r.last_seq), this.last.get(k) ?? 0);
      this.last.set(k, seq);
      acks.push(this.publishAck(r.site_id, r.ob, seq, true));
    }
    await Promise.all(acks);
    if (acks.length) this.o.log.info("sites taken over: their edges asked to re-send from the shared watermark", { sites: siteIds.length, outboxes: acks.length });
  }

  private owned(siteId: string): boolean {
    return !this.o.ownership || this.o.ownership.owns(siteId);
  }

  private enqueue(kind: Item["kind"], topic: string, payload: Buffer): void {
    const st = parseSiteTopic(topic);
    if (!st) return;
    // Delivered while its partition moves (subscription not yet changed): the owner answers it.
    if (!this.owned(st.siteId)) return;
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
        if (this.o.batchLingerMs && this.queue.length < LINGER_BELOW) await new Promise((r) => setTimeout(r, this.o.batchLingerMs));
        // A site whose partition this node lost while its messages waited is left to the new owner (no ack: the edge resends).
        const batch = this.queue.splice(0, 2000).filter((it) => this.owned(it.siteId));
        if (batch.length) await this.process(batch);
      }
    } finally {
      this.running = null;
    }
  }

  private async process(batch: Item[]): Promise<void> {
    const t0 = performance.now();
    try {
      await this.processBatch(batch);
    } catch (e) {
      this.o.log.error("control-plane batch failed", { err: e as Error, messages: batch.length });
    } finally {
      const ms = performance.now() - t0;
      this.stats.maxBatchMs = Math.max(this.stats.maxBatchMs, ms);
      if (ms > 500) {
        this.stats.slowBatches++;
        this.o.log.warn("slow control-plane batch", { ms: Math.round(ms), messages: batch.length });
      }
    }
  }

  /**
   * One transaction for the whole batch (the common case). When it fails, the batch is split
   * in halves (in order) until the message the database refuses stands alone, so it — or its
   * site — never costs another message, at about 2·log2(n) transactions. A message that fails
   * alone is refused with the database's reason; if even that cannot be written, its (site,
   * ob) is blocked (see `blocked`). The ack never covers a message neither stored nor refused.
   */
  private async processBatch(batch: Item[]): Promise<void> {
    let err = await this.store(batch);
    // Fenced out: the sites this node lost are left to their new owner (no ack: the edge re-sends there).
    while (err instanceof FencedOut) {
      const lost = new Set(err.sites);
      this.o.log.warn("control-plane batch fenced: this node lost the sites' partition; their messages are left to the new owner", { sites: err.sites.slice(0, 20), err: err.message });
      batch = batch.filter((it) => !lost.has(it.siteId) && this.owned(it.siteId));
      if (!batch.length) return;
      err = await this.store(batch);
    }
    if (!err) return;
    this.stats.failedBatches++;
    this.o.log.warn("control-plane batch not stored; isolating the message the database refuses", { err: err.message, messages: batch.length });
    await this.isolate(batch, err);
  }

  private async isolate(items: Item[], err: Error): Promise<void> {
    if (items.length === 1) return this.refuse(items[0]!, err);
    const mid = items.length >> 1;
    for (const half of [items.slice(0, mid), items.slice(mid)]) {
      const e = await this.store(half);
      if (e) await this.isolate(half, e);
    }
  }

  /**
   * Fences, reads the watermarks, plans and writes items in one transaction; then acks and runs
   * the effects. Returns the error instead of throwing.
   */
  private async store(items: Item[]): Promise<Error | null> {
    let err: Error | null = null;
    // A deadlock or serialization failure says nothing about the messages: PostgreSQL chose this
    // transaction as the victim of a lock cycle with another (another node's batch or presence
    // flush, this node's lease round). Run it again before isolating — isolating would record
    // every message of the batch as refused ("not stored: deadlock detected") and ack past it.
    for (let attempt = 1; attempt <= TRANSIENT_ATTEMPTS; attempt++) {
      err = await this.storeOnce(items);
      if (!err || !TRANSIENT_STATES.has(sqlState(err) ?? "")) return err;
      this.stats.retriedBatches++;
      this.o.log.warn("control-plane batch hit a transient database error; trying again", { err: err.message, attempt, messages: items.length });
    }
    return err;
  }

  private async storeOnce(items: Item[]): Promise<Error | null> {
    let plan: Plan | undefined;
    try {
      plan = await this.o.db.transaction(async (tx) => {
        const sites = [...new Set(items.map((it) => it.siteId))];
        await this.fence(tx, sites);
        // What is committed, whoever committed it (another node before the partition moved here).
        for (const [k, seq] of await lockWatermarks(tx, sites)) this.last.set(k, seq);
        const p = this.plan(items);
        for (const [k, v] of p.marks) p.ops.push({ table: "cp_seq", key: k, row: [v.siteId, v.ob, big(v.seq)] });
        await this.write(tx, p.ops);
        return p;
      });
    } catch (e) {
      return e as Error;
    }
    await this.commit(plan);
    return null;
  }

  private async fence(tx: Sql, siteIds: readonly string[]): Promise<void> {
    const fence = this.o.ownership?.fence?.bind(this.o.ownership);
    if (!fence) return;
    if (!siteIds.length) return;
    await fence(tx, siteIds).catch((e: unknown) => {
      const sites = (e as { sites?: unknown }).sites;
      // Not a refusal naming sites (the database failed): the batch fails as any other would.
      throw Array.isArray(sites) && sites.length ? new FencedOut(sites as string[], e) : e;
    });
  }

  /** A message that failed alone: recorded as refused (and stepped over), or its (site, ob) blocked. */
  private async refuse(it: Item, err: Error): Promise<void> {
    if (it.kind === "hello") return void this.o.log.error("hello not handled", { site: it.siteId, err });
    const peek = peekSeq(it.payload);
    if (!peek) return;
    const k = keyOf(it.siteId, peek.ob);
    if (peek.seq <= (this.last.get(k) ?? 0)) return;
    const b = this.blocked.get(k);
    if (b && peek.seq > b.maxSeen) return void (b.maxSeen = peek.seq);
    const reason = toText(`not stored: ${err.message}`.slice(0, 2000)).value;
    const now = this.o.clock.now();
    try {
      await this.o.db.transaction(async (tx) => {
        await this.fence(tx, [it.siteId]);
        await writeRows(tx, "cp_rejected", [[it.siteId, peek.ob, big(peek.seq), typeOfPayload(it.payload), reason, big(now)]]);
        await writeRows(tx, "cp_seq", [[it.siteId, peek.ob, big(peek.seq)]]);
      });
    } catch (e) {
      if (e instanceof FencedOut) return void this.o.log.warn("message not refused here: this node lost the site's partition", { site: it.siteId, seq: peek.seq });
      this.blocked.set(k, { maxSeen: peek.seq });
      this.o.log.error("control-plane message neither stored nor refused; not acknowledged, the edge will resend it", { site: it.siteId, seq: peek.seq, err: e as Error });
      return;
    }
    this.blocked.delete(k);
    this.last.set(k, peek.seq);
    this.stats.rejected++;
    this.o.log.error("control-plane message refused by the database; acknowledged as refused", { site: it.siteId, seq: peek.seq, reason });
    this.notifyRejected(it.siteId, peek.ob, peek.seq, typeOfPayload(it.payload), reason, now);
    await this.publishAck(it.siteId, peek.ob, peek.seq);
  }

  private notifyRejected(siteId: string, ob: string, seq: number, type: string, reason: string, atMs: number): void {
    this.emit([{ siteId, cameraId: null, eventId: `${ob}:${seq}`, kind: "outpost.message-rejected", atMs, data: { ob, seq, type, reason } }]);
  }

  private plan(batch: Item[]): Plan {
    const now = this.o.clock.now();
    const p: Plan = {
      ops: [],
      marks: new Map(),
      acks: new Map(),
      blocked: new Map([...this.blocked].map(([k, v]) => [k, { ...v }])),
      hellos: [],
      confirm: new Set(),
      resend: new Set(),
      epoch: this.epoch,
      events: [],
      after: [],
      stored: [],
      health: [],
      applied: 0,
      rejected: 0,
      duplicates: 0,
    };
    const lastOf = (k: string) => p.marks.get(k)?.seq ?? this.last.get(k) ?? 0;
    for (const it of batch) {
      if (it.kind === "hello") {
        const h = parseMessage(Hello, it.payload);
        if (!h.ok) this.o.log.warn("hello ignored", { site: it.siteId, reason: h.reason });
        else {
          // The edge (re)connected: it sends from its oldest unacknowledged message again.
          p.blocked.delete(keyOf(it.siteId, h.msg.ob));
          p.confirm.add(keyOf(it.siteId, h.msg.ob));
          p.hellos.push({ siteId: it.siteId, hello: h.msg });
        }
        continue;
      }
      const parsed = parseUp(it.payload);
      const peek = parsed.ok ? { ob: parsed.msg.ob, seq: parsed.msg.seq } : peekSeq(it.payload);
      if (!peek) {
        this.o.log.warn("message without outbox id/seq ignored", { site: it.siteId, reason: parsed.ok ? "" : parsed.reason });
        continue;
      }
      const k = keyOf(it.siteId, peek.ob);
      p.acks.set(k, { siteId: it.siteId, ob: peek.ob });
      if (peek.seq <= lastOf(k)) {
        p.duplicates++;
        continue;
      }
      const b = p.blocked.get(k);
      if (b) {
        if (peek.seq > b.maxSeen) {
          b.maxSeen = peek.seq;
          continue;
        }
        p.blocked.delete(k);
      } else if (peek.seq !== lastOf(k) + 1 && !this.confirmed.has(k) && !p.confirm.has(k)) {
        // First message heard since a (re)subscribe, and not the next one: what came between may
        // have been dropped by the broker. Held back until the edge re-sends from its oldest.
        p.blocked.set(k, { maxSeen: peek.seq });
        p.resend.add(k);
        this.o.log.info("gap after a broker (re)subscribe; asking the edge to re-send", { site: it.siteId, ob: peek.ob, stored: lastOf(k), heard: peek.seq });
        continue;
      }
      p.confirm.add(k);
      p.marks.set(k, { siteId: it.siteId, ob: peek.ob, seq: peek.seq });
      if (!parsed.ok) {
        // Refused with its reason and stepped over (acked): one bad message cannot block the edge's queue forever.
        const reason = parsed.reason.slice(0, 2000);
        const type = typeOfPayload(it.payload);
        p.rejected++;
        p.ops.push({ table: "cp_rejected", key: `${k}\u0000${peek.seq}`, row: [it.siteId, peek.ob, big(peek.seq), type, reason, big(now)] });
        p.events.push({ siteId: it.siteId, cameraId: null, eventId: `${peek.ob}:${peek.seq}`, kind: "outpost.message-rejected", atMs: now, data: { ob: peek.ob, seq: peek.seq, type, reason } });
        this.o.log.warn("message rejected", { site: it.siteId, seq: peek.seq, reason });
        continue;
      }
      p.applied++;
      const m = parsed.msg;
      p.stored.push({ siteId: it.siteId, type: m.type, at: m.at });
      this.apply(it.siteId, m, now, p);
    }
    return p;
  }

  /**
   * Rows of a table are written with one statement (central/mirror writeRows), before any
   * statement that follows them. The fleet's rows and statements go to its DuckDB file last, in
   * one DuckDB transaction that commits just before this one (a database failure after it is
   * rare; the re-sent track chunk is then kept twice, which fleet search tolerates).
   */
  private async write(tx: Sql, ops: Op[]): Promise<void> {
    const pending = new Map<MirrorTable, Map<string, Val[]> | Val[][]>();
    const fleet: Op[] = [];
    const flush = async () => {
      for (const [table, rows] of pending) await writeRows(tx, table, rows instanceof Map ? [...rows.values()] : rows);
      pending.clear();
    };
    for (const op of ops) {
      if ("fleetTable" in op || "fleetSql" in op) {
        fleet.push(op);
        continue;
      }
      if ("table" in op) {
        let rows = pending.get(op.table);
        if (!rows) pending.set(op.table, (rows = op.key === null ? [] : new Map()));
        if (rows instanceof Map) rows.set(op.key!, op.row);
        else rows.push(op.row);
        continue;
      }
      await flush();
      await tx.run(op.sql, op.params);
    }
    await flush();
    if (fleet.length) await this.writeFleet(fleet);
  }

  /** Track rows through the staging table (appender) and one INSERT … SELECT; positions as statements. */
  private async writeFleet(ops: Op[]): Promise<void> {
    await this.o.fleet.transaction(async (ftx) => {
      const rows = new Map<keyof typeof FLEET_ROW_TABLES, Val[][]>();
      for (const op of ops) {
        if ("fleetTable" in op) {
          let list = rows.get(op.fleetTable);
          if (!list) rows.set(op.fleetTable, (list = []));
          list.push(op.row.map((v) => (typeof v === "number" ? BigInt(v) : v)));
        } else if ("fleetSql" in op) await ftx.run(op.fleetSql, op.params.map((v) => (typeof v === "number" ? BigInt(v) : v)));
      }
      for (const [table, list] of rows) {
        const t = FLEET_ROW_TABLES[table];
        await ftx.append(t.stage, list as (string | bigint | boolean | null)[][]);
        await ftx.run(`INSERT INTO ${table} (${t.columns}) SELECT ${t.columns} FROM ${t.stage}`);
        await ftx.run(`DELETE FROM ${t.stage}`);
      }
    });
  }

  /** After COMMIT: watermarks, acks, hellos, post-commit steps, events. */
  private async commit(p: Plan): Promise<void> {
    for (const [k, v] of p.marks) this.last.set(k, v.seq);
    this.blocked.clear();
    for (const [k, v] of p.blocked) this.blocked.set(k, v);
    if (p.epoch === this.epoch) for (const k of p.confirm) this.confirmed.add(k);
    for (const h of p.health) {
      const cur = this.latestHealth.get(h.siteId);
      if (!cur || cur.atMs <= h.atMs) this.latestHealth.set(h.siteId, { atMs: h.atMs, body: h.body });
    }
    this.stats.applied += p.applied;
    this.stats.rejected += p.rejected;
    this.stats.duplicates += p.duplicates;
    this.stats.batches++;
    const storedAt = this.o.clock.now();
    if (this.onStored) for (const s of p.stored) this.onStored({ ...s, storedAt });
    for (const [k, v] of p.acks) await this.publishAck(v.siteId, v.ob, this.last.get(k) ?? 0, p.resend.has(k));
    for (const h of p.hellos) await this.onHello(h.siteId, h.hello);
    for (const f of p.after) await f().catch((e) => this.o.log.error("post-commit step failed", { err: e as Error }));
    this.emit(p.events);
  }

  private emit(events: SiteEvent[]): void {
    for (const e of events) {
      try {
        this.o.onSiteEvent?.(e);
      } catch (err) {
        this.o.log.error("onSiteEvent handler failed", { err: err as Error });
      }
    }
  }

  private apply(siteId: string, m: UpMessage, now: number, p: Plan): void {
    const ops = p.ops;
    switch (m.type) {
      case "event":
      case "dropped": {
        const e: SiteEvent =
          m.type === "event"
            ? { siteId, cameraId: m.body.cameraId ? centralCameraId(siteId, m.body.cameraId) : null, eventId: m.body.eventId, kind: m.body.kind, atMs: m.body.atMs, data: m.body.data ?? {} }
            : { siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.telemetry-dropped", atMs: m.at, data: m.body };
        ops.push({ table: "cp_events", key: null, row: [siteId, m.ob, big(m.seq), e.eventId, e.cameraId, e.kind, big(e.atMs), JSON.stringify(e.data), big(now)] });
        p.events.push(e);
        return;
      }
      case "index": {
        const b = m.body;
        const w = [siteId, b.cameraId, b.stream];
        if (b.replace) {
          const range = [...w, big(b.replace.fromMs), big(b.replace.toMs)];
          ops.push({ sql: `DELETE FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms < $5`, params: range });
          ops.push({ sql: `DELETE FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms < $5`, params: range });
        }
        const k = `${siteId}/${b.cameraId}/${b.stream}/`;
        for (const [a, e, by] of b.segments) ops.push({ table: "cp_segments", key: k + a, row: [...w, big(a), big(e), big(by)] });
        for (const [a, e, r] of b.gaps) ops.push({ table: "cp_gaps", key: k + a, row: [...w, big(a), big(e), r] });
        return;
      }
      case "locks": {
        ops.push({ sql: `DELETE FROM cp_locks WHERE site_id = $1 AND camera_id = $2`, params: [siteId, m.body.cameraId] });
        for (const l of m.body.locks) {
          ops.push({ table: "cp_locks", key: `${siteId}\u0000${l.id}`, row: [siteId, m.body.cameraId, l.id, big(l.startMs), big(l.endMs), l.reason, opt(l.expiresAtMs)] });
        }
        return;
      }
      case "tree": {
        ops.push({ sql: `DELETE FROM cp_cameras WHERE site_id = $1`, params: [siteId] });
        for (const c of m.body.cameras) {
          ops.push({ table: "cp_cameras", key: `${siteId}\u0000${c.id}`, row: [siteId, c.id, c.name, c.enabled, JSON.stringify(c.streams), big(now)] });
        }
        // Every node's camera list cache (Sites) re-reads: NOTIFY is sent at this batch's COMMIT.
        ops.push({ sql: `SELECT pg_notify($1, $2)`, params: [CAMERAS_CHANNEL, siteId] });
        p.after.push(async () => {
          this.treeVersion++;
        });
        p.events.push({ siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.device-tree", atMs: m.at, data: { cameras: m.body.cameras.map((c) => c.id) } });
        return;
      }
      case "health": {
        ops.push({ table: "cp_health", key: null, row: [siteId, big(m.at), big(now), JSON.stringify(m.body)] });
        p.health.push({ siteId, atMs: m.at, body: m.body });
        return;
      }
      case "digest": {
        for (const st of m.body.streams) {
          ops.push({ table: "cp_retention", key: `${siteId}\u0000${st.cameraId}\u0000${st.stream}`, row: [siteId, st.cameraId, st.stream, opt(st.horizonMs), big(now)] });
        }
        // Compared after commit: the mirror then holds every message the edge sent before the digest.
        p.after.push(() => this.compareDigest(siteId, m.body));
        return;
      }
      case "config-status": {
        const b = m.body;
        ops.push({ table: "cp_applied", key: siteId, row: [siteId, big(b.version), b.state, b.reason ?? null, big(m.at)] });
        if (b.state === "rejected") p.events.push({ siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.config-rejected", atMs: m.at, data: { version: b.version, reason: b.reason ?? "" } });
        return;
      }
      case "command-result": {
        const b = m.body;
        ops.push({
          sql: `UPDATE cp_commands SET status = $1, result = $2, error = $3, done_ms = $4 WHERE id = $5 AND site_id = $6`,
          params: [b.status, b.result === undefined ? null : JSON.stringify(b.result), b.error ?? null, big(now), b.commandId, siteId],
        });
        return;
      }
      case "track": {
        const pts = m.body.points;
        const e7 = (v: number) => BigInt(Math.round(v * 1e7));
        const pos = pts.filter((p) => p[2] !== null && p[3] !== null) as [number, number, number, number, number | null, number | null][];
        const box = pos.length
          ? [e7(Math.min(...pos.map((p) => p[2]))), e7(Math.max(...pos.map((p) => p[2]))), e7(Math.min(...pos.map((p) => p[3]))), e7(Math.max(...pos.map((p) => p[3])))]
          : [null, null, null, null];
        ops.push({ fleetTable: "cp_track", row: [siteId, big(pts[0]![0]), big(pts.at(-1)![0]), ...box, JSON.stringify(pts)] });
        p.after.push(async () => this.onTrack?.(siteId, pts));
        return;
      }
      case "telemetry": {
        const b = m.body;
        ops.push({ table: "cp_telemetry", key: null, row: [siteId, m.ob, big(m.seq), b.kind, b.cameraId ? centralCameraId(siteId, b.cameraId) : null, big(b.atMs), JSON.stringify(b.data)] });
        // The live map's position: the newest per site (the outbox keeps a site's order).
        if (b.kind === "position" && PositionData.safeParse(b.data).success) {
          ops.push({ fleetSql: `INSERT OR REPLACE INTO cp_position VALUES ($1, $2, $3, $4)`, params: [siteId, big(b.atMs), big(now), JSON.stringify(b.data)] });
        }
        // Edge log lines (warnings/errors) go on to the system log, once (after the seq check above).
        if (b.kind === "log") p.events.push({ siteId, cameraId: null, eventId: `${m.ob}:${m.seq}`, kind: "outpost.log", atMs: b.atMs, data: b.data });
        return;
      }
    }
  }

  private async publishAck(siteId: string, ob: string, upTo: number, resend = false): Promise<void> {
    await this.o.bus.publish(topics.ack(siteId), JSON.stringify({ v: PROTOCOL_VERSION, ob, upTo, centralAt: this.o.clock.now(), ...(resend ? { resend } : {}) }));
  }

  private async onHello(siteId: string, h: Hello): Promise<void> {
    await this.publishAck(siteId, h.ob, this.last.get(keyOf(siteId, h.ob)) ?? 0);
    // Commands published while the edge was away were lost with its session: send them again.
    const now = this.o.clock.now();
    const pending = await this.o.db.query<{ id: string; name: string; args: string; expires_ms: number }>(
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
      const segs = await db.query<{ s: number; e: number; b: number }>(
        `SELECT start_ms AS s, end_ms AS e, bytes AS b FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms <= $4`,
        [...w, st.segCutoffMs],
      );
      const gaps = await db.query<{ s: number; e: number; r: string }>(
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
      const gone = [...mine.keys()].filter((day) => !theirs.has(day));
      if (!gone.length) continue;
      // The edge has nothing (sent) for these days any more, e.g. retention removed them (fenced: only the site's owner prunes).
      await db.transaction(async (tx) => {
        await this.fence(tx, [siteId]);
        for (const day of gone) {
          await tx.run(`DELETE FROM cp_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms < $5 AND start_ms <= $6`, [...w, day, day + DAY_MS, st.segCutoffMs]);
          await tx.run(`DELETE FROM cp_gaps WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms >= $4 AND start_ms < $5 AND end_ms <= $6`, [...w, day, day + DAY_MS, st.gapCutoffMs]);
        }
      });
    }
  }
}

/** The message type as sent (for refusal records), even when the message failed its schema. */
function typeOfPayload(payload: Uint8Array): string {
  try {
    const t = (JSON.parse(new TextDecoder().decode(payload)) as { type?: unknown }).type;
    return typeof t === "string" ? t.slice(0, 40).replace(/[^A-Za-z0-9_.-]/g, "?") : "?";
  } catch {
    return "?";
  }
}
