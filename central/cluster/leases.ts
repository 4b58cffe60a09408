/**
 * The lease manager: which of the 256 site partitions this central node owns
 * (docs/design/central-cluster.md, "Sites → nodes: partitions with leases"). Every round (each
 * heartbeatMs) it records its heartbeat, renews its leases to now + leaseMs, gives back what is
 * above its fair share (ceil(256 / live nodes)) and claims lapsed partitions up to it, each
 * claim raising the partition's epoch. A single node runs the same rounds and owns all 256.
 *
 * Times come from the injected clock; nodes' clocks must agree to well under leaseMs (NTP). The
 * lease's end in the database is wall time (every node compares it), but whether this node may
 * still act on a partition is judged on its monotonic clock from the start of the round that
 * renewed it: a wall clock stepped back (NTP, an operator) must not stretch the lease here while
 * the others see it end.
 */
import { systemClock, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database, Sql } from "../db/index.ts";
import { PARTITIONS, partitionOf } from "./partition.ts";

export interface LeaseOptions {
  /** Where rounds run (heartbeat, renewal, claim, give back): startCluster gives a connection of the rounds' own (Database.ownConnection). */
  db: Database;
  /** This node's id, unique in the cluster and stable across restarts (a restart then re-claims its partitions at once). */
  nodeId: string;
  clock?: Clock;
  log?: Logger;
  /** Heartbeat, renewal and claim interval (default 5 s). */
  heartbeatMs?: number;
  /** A lease's length from each renewal (default 15 s); a node silent this long is dead to the others. */
  leaseMs?: number;
  /** The node's user API URL, recorded with its heartbeat (may be set later: setApiUrl). */
  apiUrl?: string;
}

export interface PartitionChange {
  gained: number[];
  lost: number[];
}

/** A commit refused because this node no longer owns the site's partition at the epoch it claimed. */
export class NotOwnerError extends Error {
  constructor(
    readonly partition: number,
    readonly nodeId: string,
  ) {
    super(`node ${nodeId} no longer owns partition ${partition}: another node claimed it`);
  }
}

export const DEFAULT_HEARTBEAT_MS = 5_000;
export const DEFAULT_LEASE_MS = 15_000;

export class Leases {
  readonly nodeId: string;
  readonly heartbeatMs: number;
  readonly leaseMs: number;
  private readonly clock: Clock;
  /** partition → epoch this node claimed it at, and until when (this node's monotonic clock) its lease runs. */
  private readonly held = new Map<number, { epoch: number; deadline: number }>();
  private readonly changeFns = new Set<(c: PartitionChange) => void>();
  private readonly roundFns = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private halted = false;
  private startedMs = 0;
  private apiUrl: string | null;
  private internalUrl: string | null = null;

  constructor(private readonly o: LeaseOptions) {
    this.nodeId = o.nodeId;
    this.clock = o.clock ?? systemClock;
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
    if (this.leaseMs < 2 * this.heartbeatMs) throw new Error(`the lease (${this.leaseMs} ms) must be at least twice the heartbeat (${this.heartbeatMs} ms), or leases lapse between renewals`);
    this.apiUrl = o.apiUrl ?? null;
  }

  /** Runs the first round (a lone node then owns every partition) and schedules the next ones. */
  async start(o: { timers?: boolean } = {}): Promise<void> {
    this.startedMs = this.clock.now();
    await this.round();
    if (o.timers !== false) this.schedule();
  }

  setApiUrl(url: string): void {
    this.apiUrl = url;
  }

  /** The node's internal listener (live relay between nodes), published with each heartbeat. */
  setInternalUrl(url: string | null): void {
    this.internalUrl = url;
  }

  /** Whether this node owns the site's partition with a lease that has not run out on its own clock. */
  owns(siteId: string): boolean {
    return this.ownsPartition(partitionOf(siteId));
  }

  ownsPartition(partition: number): boolean {
    const h = this.held.get(partition);
    return !!h && h.deadline > this.monotonic();
  }

  /** Elapsed time that never steps (the wall clock when the injected clock has none). */
  private monotonic(): number {
    return this.clock.monotonic ? this.clock.monotonic() : this.clock.now();
  }

  /** Owns all 256 partitions (a single node, or the last one alive). */
  ownsAll(): boolean {
    if (this.held.size < PARTITIONS) return false;
    for (const p of this.held.keys()) if (!this.ownsPartition(p)) return false;
    return true;
  }

  /** partition → epoch of what this node holds (its leases may have run out: see owns). */
  owned(): Map<number, number> {
    return new Map([...this.held].map(([p, h]) => [p, h.epoch]));
  }

  /** Called with what a round gained and lost (only when something changed); returns the unsubscribe. */
  onChange(fn: (c: PartitionChange) => void): () => void {
    this.changeFns.add(fn);
    return () => this.changeFns.delete(fn);
  }

  /** Called after every round (subscribers re-check what they derive from ownership, e.g. new sites). */
  onRound(fn: () => void): () => void {
    this.roundFns.add(fn);
    return () => this.roundFns.delete(fn);
  }

  /**
   * The fencing check, inside the caller's transaction: this node still owns `partition` at
   * `epoch`. It locks the partition row (FOR KEY SHARE), so a claim by another node — whose
   * FOR UPDATE conflicts with it — skips the row until this transaction ends: a claim either
   * happened before (this returns false) or happens after the commit. KEY SHARE, not SHARE: this
   * node's own lease renewal (an UPDATE of non-key columns) does not conflict with it, so
   * renewals never queue behind the node's fenced batches.
   */
  async stillOwner(tx: Sql, partition: number, epoch: number): Promise<boolean> {
    const rows = await tx.query(`SELECT 1 AS ok FROM partitions WHERE partition = $1 AND node_id = $2 AND epoch = $3 FOR KEY SHARE`, [partition, this.nodeId, epoch]);
    return rows.length === 1;
  }

  /**
   * fence for many sites with one statement (a control-plane batch: up to 256 partitions):
   * throws NotOwnerError for the first partition this node no longer owns at its epoch.
   */
  async fenceAll(tx: Sql, siteIds: readonly string[]): Promise<void> {
    const want = new Map<number, number>();
    for (const s of siteIds) {
      const p = partitionOf(s);
      const h = this.held.get(p);
      if (!h) throw new NotOwnerError(p, this.nodeId);
      want.set(p, h.epoch);
    }
    if (!want.size) return;
    const rows = await tx.query<{ partition: number }>(
      `SELECT p.partition FROM partitions p
       JOIN (SELECT (e->>0)::int AS partition, (e->>1)::bigint AS epoch FROM jsonb_array_elements($1::jsonb -> 'held') AS e) h ON p.partition = h.partition AND p.epoch = h.epoch
       WHERE p.node_id = $2 ORDER BY p.partition FOR KEY SHARE OF p`,
      [{ held: [...want] }, this.nodeId],
    );
    const ok = new Set(rows.map((r) => r.partition));
    for (const p of want.keys()) if (!ok.has(p)) throw new NotOwnerError(p, this.nodeId);
  }

  /** stillOwner for a site at the epoch this node holds its partition; throws NotOwnerError otherwise (the transaction rolls back). */
  async fence(tx: Sql, siteId: string): Promise<void> {
    const p = partitionOf(siteId);
    const h = this.held.get(p);
    if (!h || !(await this.stillOwner(tx, p, h.epoch))) throw new NotOwnerError(p, this.nodeId);
  }

  /** One round: heartbeat, renew, give back above the fair share, claim lapsed ones up to it. Rounds never overlap. */
  round(): Promise<void> {
    if (this.running) return this.running;
    const r = this.doRound().finally(() => (this.running = null));
    this.running = r;
    return r;
  }

  private async doRound(): Promise<void> {
    if (this.halted) return;
    const now = this.clock.now();
    const until = now + this.leaseMs;
    // Taken before any wait: the lease runs from when the renewal was asked for, not from its answer.
    const deadline = this.monotonic() + this.leaseMs;
    const before = new Map(this.held);
    const heldList = { held: [...this.held].map(([p, h]) => [p, h.epoch]) };
    const { renewed, live } = await this.o.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO central_nodes (node_id, api_url, internal_url, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (node_id) DO UPDATE SET api_url = excluded.api_url, internal_url = excluded.internal_url, started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms`,
        [this.nodeId, this.apiUrl, this.internalUrl, this.startedMs, now],
      );
      // Only what this node holds at the epoch it claimed: a partition someone else claimed meanwhile is not renewed.
      // Rows locked in partition order, as every statement that locks partitions here does (fenceAll,
      // giveBack): a renewal and a control-plane batch's fence locking them in different orders
      // deadlocked (PostgreSQL "deadlock detected" with two nodes under load). NO KEY UPDATE, the
      // UPDATE's own lock: it does not wait for a fenced transaction's KEY SHARE (renewals never
      // queue behind this node's batches), where FOR UPDATE would.
      const renewed = await tx.query<{ partition: number }>(
        `UPDATE partitions p SET lease_until_ms = $1
         WHERE p.partition IN (
           SELECT q.partition FROM partitions q
           JOIN (SELECT (e->>0)::int AS partition, (e->>1)::bigint AS epoch FROM jsonb_array_elements($2::jsonb -> 'held') AS e) h ON q.partition = h.partition AND q.epoch = h.epoch
           WHERE q.node_id = $3 ORDER BY q.partition FOR NO KEY UPDATE OF q)
         RETURNING p.partition`,
        [until, heldList, this.nodeId],
      );
      const [{ n }] = (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM central_nodes WHERE heartbeat_ms > $1`, [now - this.leaseMs])) as [{ n: number }];
      return { renewed: new Set(renewed.map((r) => r.partition)), live: Math.max(1, n) };
    });
    for (const p of [...this.held.keys()]) if (!renewed.has(p)) this.held.delete(p);
    for (const p of renewed) this.held.get(p)!.deadline = deadline;
    const share = Math.ceil(PARTITIONS / live);
    if (this.held.size > share) await this.giveBack(this.held.size - share);
    else if (this.held.size < share) await this.claim(share - this.held.size, now, until, deadline);
    this.announce(before);
  }

  /** Releases the n highest partitions this node holds (lease 0: any node may claim them at once). */
  private async giveBack(n: number): Promise<void> {
    const give = [...this.held.keys()].sort((a, b) => b - a).slice(0, n);
    const held = { held: give.map((p) => [p, this.held.get(p)!.epoch]) };
    await this.o.db.run(
      `UPDATE partitions p SET node_id = NULL, lease_until_ms = 0
       WHERE p.partition IN (
         SELECT q.partition FROM partitions q
         JOIN (SELECT (e->>0)::int AS partition, (e->>1)::bigint AS epoch FROM jsonb_array_elements($1::jsonb -> 'held') AS e) h ON q.partition = h.partition AND q.epoch = h.epoch
         WHERE q.node_id = $2 ORDER BY q.partition FOR UPDATE OF q)`,
      [held, this.nodeId],
    );
    for (const p of give) this.held.delete(p);
  }

  /**
   * Claims up to n partitions whose lease lapsed — or that this node's previous run held (same
   * node id after a restart) — with epoch + 1. SKIP LOCKED: two nodes claiming at once take
   * different rows, and a row a fenced commit holds is left for the next round.
   */
  private async claim(n: number, now: number, until: number, deadline: number): Promise<void> {
    const mine = { held: [...this.held.keys()] };
    const rows = await this.o.db.query<{ partition: number; epoch: number }>(
      `UPDATE partitions p SET node_id = $1, epoch = p.epoch + 1, lease_until_ms = $2
       WHERE p.partition IN (
         SELECT partition FROM partitions
         WHERE (lease_until_ms < $3 OR node_id = $1) AND NOT (partition IN (SELECT (jsonb_array_elements_text($4::jsonb -> 'held'))::int))
         ORDER BY partition LIMIT $5 FOR UPDATE SKIP LOCKED)
       AND (p.lease_until_ms < $3 OR p.node_id = $1)
       RETURNING p.partition, p.epoch`,
      [this.nodeId, until, now, mine, n],
    );
    for (const r of rows) this.held.set(r.partition, { epoch: Number(r.epoch), deadline });
  }

  private announce(before: Map<number, { epoch: number }>): void {
    const gained: number[] = [];
    const lost: number[] = [];
    for (const [p, h] of this.held) if (before.get(p)?.epoch !== h.epoch) gained.push(p);
    for (const [p, h] of before) if (this.held.get(p)?.epoch !== h.epoch) lost.push(p);
    if (gained.length || lost.length) {
      this.o.log?.info("partitions changed", { node: this.nodeId, gained: gained.length, lost: lost.length, owned: this.held.size });
      const c = { gained: gained.sort((a, b) => a - b), lost: lost.sort((a, b) => a - b) };
      for (const fn of this.changeFns) this.safely(() => fn(c));
    }
    for (const fn of this.roundFns) this.safely(fn);
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.o.log?.error("partition listener failed", { err: e as Error });
    }
  }

  private schedule(): void {
    if (this.stopped || this.halted) return;
    this.timer = setTimeout(() => {
      this.round()
        .catch((e) => this.o.log?.warn("lease round failed", { err: e as Error, node: this.nodeId }))
        .finally(() => this.schedule());
    }, this.heartbeatMs);
  }

  /**
   * Stops every round without releasing anything: what a crashed or paused node looks like to
   * the others (its leases run out). Tests use it to kill a node; close() after it releases nothing.
   */
  halt(): void {
    this.halted = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Stops the rounds and gives every partition back, so the other nodes claim them at their next round. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const halted = this.halted;
    this.halt();
    await this.running?.catch(() => undefined);
    if (halted || this.held.size === 0) return;
    const before = new Map(this.held);
    await this.giveBack(this.held.size).catch((e) => this.o.log?.warn("giving partitions back failed", { err: e as Error }));
    this.announce(before);
  }
}
