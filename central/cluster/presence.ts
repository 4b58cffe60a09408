/**
 * Shared presence (table site_presence, migration 0008): which sites are online, since when
 * and on which node — so every node's API answers what the site's partition owner knows. Only
 * the owner hears a site's control plane (and holds its MQTT session), so only it writes the
 * site's row: on a change of state at its next flush, and while the site stays online its
 * last_seen at most once per `throttleMs` — one statement per flush for all changed sites,
 * never one per message. A node reads the whole table once per flush interval into memory
 * while someone asks for another node's site (one query, however many API requests; see
 * "on DEMAND" below) and answers from that. A row whose node's heartbeat
 * (central_nodes.heartbeat_ms) is older than the lease reads as offline since its last_seen:
 * a killed node's sites do not stay "online" until the new owner writes them.
 *
 * The owner's own answer stays its memory (the caller asks `remote` only for sites it does not
 * own), so a single node — owning every partition — answers exactly as without this table.
 *
 * The row also carries the site's last health report (migration 0012): the owner writes a newer
 * one with the row in the same flush statement — at most once per `throttleMs` per site, and
 * only when it changed (an unchanged report is not sent again) — so every node can list every
 * site's health (GET /api/v1/site-health) from the same one read per interval. The periodic
 * read brings the reports of one slice of the sites per tick (healthShareMs ÷ intervalMs
 * slices, by a hash of the site id), so each report is re-read about once per healthShareMs
 * as before, but never the whole fleet's at once: at 8,000 sites that one read was ~50 ms of
 * CPU in a burst every 15 s on every node but a lone one, half a second of a 0.09-core node's
 * wall time during which its control plane waited (BENCHMARKS.md, issue 17).
 *
 * The read is on DEMAND, not a fixed poll of the fleet (issue 17): at 15,000 sites the state
 * read alone was ~0.015 cores on every node but a lone one, spent whether or not anyone looked.
 * A lookup of another node's site (`remote`, `remoteHealth`, `remoteHealthAll`) or `fresh()`
 * marks demand; the periodic tick reads the table only while the last demand is within
 * `demandMs` (60 s by default: a user's page keeps asking; a node nobody asks reads nothing but
 * the rows of sites it takes over). API routes await `fresh()` before answering: it reads at
 * once (coalesced with a running tick) when the state is older than two intervals or a health
 * slice older than one full rotation — after idleness the state and every report in one read,
 * while demand lasts the slices as before — so an answer is never staler than with the fixed
 * poll. Chosen over "await a read on every request": steady-state viewers then pay one read per
 * interval, as before, not one per request. A node taking over a partition reads those sites'
 * rows (bound ids) before writing them, so adoption never uses a stale memory of the table.
 */
import { systemClock, type Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database, SqlValue } from "../db/index.ts";

/** What the owner itself knows of a site it handles. */
export interface LocalPresence {
  online: boolean;
  /** Last message or connection seen from the site (null: never, since this node started). */
  lastSeenMs: number | null;
}

/** A site's presence as the table says, judged against its node's heartbeat. */
export interface PresenceState {
  online: boolean;
  /** Online: since it connected. Offline: since it was last seen (a lapsed node: its last_seen). */
  sinceMs: number;
  lastSeenMs: number;
  /** The node that wrote the row (the site's partition owner when it wrote). */
  nodeId: string;
}

/** A site's last health report as its owner received it (the edge's health message body). */
export interface HealthReport {
  atMs: number;
  body: unknown;
}

export interface SharedPresenceOptions {
  db: Database;
  nodeId: string;
  /** Whether this node owns the site's partition now (Leases.owns). */
  owns: (siteId: string) => boolean;
  /** Whether this node owns every partition (a single node): then nobody else's rows are asked for and the table is read only at start. */
  ownsAll?: () => boolean;
  /** Active site ids in the partitions this node holds (central/cluster owned-sites.ts); those it owns now are written. */
  sites: () => readonly string[];
  /** The owner's own view of a site (its MQTT session, its control plane's last message). */
  local: (siteId: string) => LocalPresence;
  /** The owner's last health report of a site (carried in the row for the other nodes). */
  health?: (siteId: string) => HealthReport | undefined;
  /**
   * A site this node has just taken over from another node's row: that node's last sighting, so
   * an owner that judges by "heard from lately" (an external broker) does not show a live edge
   * offline until its next message.
   */
  adopt?: (siteId: string, lastSeenMs: number) => void;
  /** A node whose heartbeat is older than this is gone (Leases.leaseMs). */
  leaseMs: number;
  /** How often rows are written and the table re-read. */
  intervalMs: number;
  /** An online site's last_seen is written at most this often. */
  throttleMs: number;
  /**
   * Health reports are shared at most this often: written per site, and read by the other nodes
   * (the read brings every site's report, kilobytes each: at 1,000 sites and a 2 s interval that
   * re-read was most of a second node's CPU in the scale benchmark). Default 15 s.
   */
  healthShareMs?: number;
  /** The periodic read runs while another node's site was asked for within this (default 60 s). */
  demandMs?: number;
  /** Real time by default (heartbeats are real time; see central/cluster/index.ts). */
  clock?: Clock;
  log?: Logger;
}

type Row = { site_id: string; online: boolean; since_ms: number | string; last_seen_ms: number | string; node_id: string; heartbeat_ms: number | string | null; in_slice?: boolean; health?: unknown; health_at_ms?: number | string | null };
/** What was written of a site; `healthWrittenMs`: when it last carried a report (the per-site health throttle). */
type Written = { online: boolean; sinceMs: number; lastSeenMs: number; healthAtMs: number | null; healthWrittenMs: number };

export class SharedPresence {
  private readonly clock: Clock;
  /** What this node last wrote per owned site (forgotten when the site's partition leaves). */
  private readonly written = new Map<string, Written>();
  /** The table as last read, judged against heartbeats at read time. */
  private shared = new Map<string, PresenceState>();
  /** The health reports in the table as last read (and as this node last wrote). */
  private sharedHealth = new Map<string, HealthReport>();
  private readonly healthShareMs: number;
  /** The tick reads the reports of slice `healthSlice` of `healthSlices` (then the next one). */
  private readonly healthSlices: number;
  private healthSlice = 0;
  /** When each health slice was last read (a whole read counts for every slice). */
  private readonly sliceReadMs: number[];
  /** When the table's state was last read. */
  private stateReadMs = -Infinity;
  /** When another node's site was last asked for (or `fresh()` called). */
  private askedMs = -Infinity;
  private readonly demandMs: number;
  /** Owned sites the last flush considered: one not among them was just taken over, its row is read first. */
  private ownedBefore = new Set<string>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private ticking: Promise<void> | null = null;

  constructor(private readonly o: SharedPresenceOptions) {
    this.clock = o.clock ?? systemClock;
    this.healthShareMs = o.healthShareMs ?? 15_000;
    this.healthSlices = Math.max(1, Math.round(this.healthShareMs / o.intervalMs));
    this.sliceReadMs = Array.from({ length: this.healthSlices }, () => -Infinity);
    this.demandMs = o.demandMs ?? 60_000;
  }

  /** First flush (the owned sites' rows read first), then one per interval, with a read while asked. */
  async start(): Promise<void> {
    if (this.o.ownsAll?.()) await this.refresh(); // a lone node reads the table only here (an online site keeps its "since" across a restart)
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
  }

  /**
   * Resolves once the table as read is as fresh as the periodic read keeps it (state within two
   * intervals, each health report within one rotation of slices), reading now if not; marks
   * demand, so the periodic read runs on while API requests keep coming. A lone node: at once.
   */
  async fresh(): Promise<void> {
    if (this.o.ownsAll?.()) return;
    this.askedMs = this.clock.now();
    if (!this.stale()) return;
    if (this.ticking) await this.ticking;
    if (this.stale()) await this.tick();
  }

  private stale(): boolean {
    const now = this.clock.now();
    return now - this.stateReadMs > 2 * this.o.intervalMs || this.sliceReadMs.some((t) => now - t > (this.healthSlices + 1) * this.o.intervalMs);
  }

  private ask(): void {
    this.askedMs = this.clock.now();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** One flush and one read (at most one at a time; a tick while one runs waits for it). */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    const run = (async () => {
      try {
        await this.flush();
        if (!this.o.ownsAll?.() && this.clock.now() - this.askedMs <= this.demandMs) await this.read();
      } catch (e) {
        this.o.log?.warn("presence flush/read failed", { err: e as Error });
      } finally {
        this.ticking = null;
      }
    })();
    this.ticking = run;
    return run;
  }

  /** The state and one slice of the reports; after idleness (more than one slice stale) every report at once. */
  private async read(): Promise<void> {
    const now = this.clock.now();
    const staleSlices = this.sliceReadMs.filter((t) => now - t > (this.healthSlices + 1) * this.o.intervalMs).length;
    if (staleSlices > 1) return this.refresh();
    await this.refresh({ healthSlice: [this.healthSlice, this.healthSlices] });
    this.healthSlice = (this.healthSlice + 1) % this.healthSlices;
  }

  /** The table's answer for a site this node does not own (undefined: owned here, or no row). Marks demand. */
  remote(siteId: string): PresenceState | undefined {
    if (this.o.owns(siteId)) return undefined;
    this.ask();
    const s = this.shared.get(siteId);
    return s && { ...s };
  }

  /** The last health report the table holds of a site this node does not own (undefined: owned here, or none). Marks demand. */
  remoteHealth(siteId: string): HealthReport | undefined {
    if (this.o.owns(siteId)) return undefined;
    this.ask();
    return this.sharedHealth.get(siteId);
  }

  /** Every health report the table holds of sites this node does not own. Marks demand (unless alone). */
  remoteHealthAll(): [string, HealthReport][] {
    if (!this.o.ownsAll?.()) this.ask();
    return [...this.sharedHealth].filter(([id]) => !this.o.owns(id));
  }

  /** Writes the owned sites whose state changed or whose last_seen is older than the throttle; returns how many. */
  async flush(): Promise<number> {
    const owned = this.o.sites().filter((id) => this.o.owns(id));
    // Taken over (or first flush): those rows as the table holds them now, unless the whole table was read within the interval (as before reads were on demand).
    const taken = owned.filter((id) => !this.ownedBefore.has(id));
    if (taken.length && this.clock.now() - this.stateReadMs >= this.o.intervalMs) await this.refreshSites(taken);
    this.ownedBefore = new Set(owned);
    const now = this.clock.now();
    const rows: [string, boolean, number, number, HealthReport | undefined][] = [];
    const next = new Map<string, Written>();
    for (const id of owned) {
      const own = this.written.get(id);
      const table = this.shared.get(id);
      if (!own && table && table.nodeId !== this.o.nodeId) this.o.adopt?.(id, table.lastSeenMs);
      const l = this.o.local(id);
      // Before this node wrote the row: the table's judged state (a lapsed node's "online" is offline since its last_seen).
      const prev = own ?? table;
      const lastSeenMs = Math.max(l.online ? now : (l.lastSeenMs ?? 0), prev?.lastSeenMs ?? 0);
      if (!prev && !l.online && lastSeenMs === 0) continue; // never seen: no row reads as offline already
      const sinceMs = prev && prev.online === l.online ? prev.sinceMs : l.online ? now : lastSeenMs;
      const ours = !!own && table?.nodeId === this.o.nodeId;
      // A newer report than the row holds (whoever wrote it), carried at most once per throttle.
      const h = this.o.health?.(id);
      const rowHealthAt = ours ? own.healthAtMs : (this.sharedHealth.get(id)?.atMs ?? null);
      const newHealth = h && (rowHealthAt === null || h.atMs > rowHealthAt) ? h : undefined;
      const healthDue = !!newHealth && (!ours || now - own.healthWrittenMs >= this.healthShareMs);
      if (ours && own.online === l.online && lastSeenMs - own.lastSeenMs < this.o.throttleMs && !healthDue) {
        next.set(id, own);
        continue;
      }
      const carried = healthDue ? newHealth : undefined;
      next.set(id, { online: l.online, sinceMs, lastSeenMs, healthAtMs: carried?.atMs ?? rowHealthAt, healthWrittenMs: carried ? now : (own?.healthWrittenMs ?? 0) });
      rows.push([id, l.online, sinceMs, lastSeenMs, carried]);
    }
    // In site order: two nodes writing the same rows (a partition moving) lock them in one order, never in a cycle.
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (let i = 0; i < rows.length; i += 1000) {
      const params: SqlValue[] = [];
      const tuples = rows
        .slice(i, i + 1000)
        .map(([id, online, since, seen, h]) => `(${[id, online, since, seen, this.o.nodeId, (h?.body ?? null) as SqlValue, h?.atMs ?? null].map((v) => `$${params.push(v)}`).join(", ")})`);
      // No newer report: the row keeps the one it has (NULL never overwrites a report).
      await this.o.db.run(
        `INSERT INTO site_presence (site_id, online, since_ms, last_seen_ms, node_id, health, health_at_ms) VALUES ${tuples.join(", ")}
         ON CONFLICT (site_id) DO UPDATE SET online = excluded.online, since_ms = excluded.since_ms, last_seen_ms = excluded.last_seen_ms, node_id = excluded.node_id,
           health = coalesce(excluded.health, site_presence.health), health_at_ms = coalesce(excluded.health_at_ms, site_presence.health_at_ms)`,
        params,
      );
    }
    // Only once written: a failed write is retried at the next flush. Sites no longer owned are forgotten (their new owner writes).
    this.written.clear();
    for (const [k, v] of next) this.written.set(k, v);
    // What this node just wrote is the table's answer too (until the next read).
    for (const [id, online, sinceMs, lastSeenMs, h] of rows) {
      this.shared.set(id, { online, sinceMs, lastSeenMs, nodeId: this.o.nodeId });
      if (h) this.sharedHealth.set(id, h);
    }
    return rows.length;
  }

  /**
   * Reads the whole table (one query) and judges each row against its node's heartbeat; with
   * `health` (the default) every report too; with `healthSlice` [i, n] only the reports of the
   * sites in slice i of n (the others keep what was read before).
   */
  async refresh(o: { health?: boolean; healthSlice?: [number, number] } = {}): Promise<void> {
    const now = this.clock.now();
    const slice = o.healthSlice ?? (o.health === false ? null : ([0, 1] as [number, number]));
    const rows = await this.o.db.query<Row>(
      slice
        ? `SELECT p.site_id, p.online, p.since_ms, p.last_seen_ms, p.node_id, n.heartbeat_ms,
             CASE WHEN (hashtext(p.site_id) & 2147483647) % $2 = $1 THEN true ELSE false END AS in_slice,
             CASE WHEN (hashtext(p.site_id) & 2147483647) % $2 = $1 THEN p.health END AS health,
             CASE WHEN (hashtext(p.site_id) & 2147483647) % $2 = $1 THEN p.health_at_ms END AS health_at_ms
           FROM site_presence p LEFT JOIN central_nodes n ON n.node_id = p.node_id`
        : `SELECT p.site_id, p.online, p.since_ms, p.last_seen_ms, p.node_id, n.heartbeat_ms FROM site_presence p LEFT JOIN central_nodes n ON n.node_id = p.node_id`,
      slice ? slice : [],
    );
    const next = new Map<string, PresenceState>();
    // Updated in place (a slice's reports replace theirs; the others stay as read before).
    const health = this.sharedHealth;
    for (const r of rows) {
      next.set(r.site_id, this.judge(r, now));
      if (!slice || !r.in_slice) continue;
      if (r.health != null && r.health_at_ms != null) health.set(r.site_id, { atMs: Number(r.health_at_ms), body: r.health });
      else health.delete(r.site_id);
    }
    this.shared = next;
    // A site whose row is gone has no report either.
    if (slice) for (const id of health.keys()) if (!next.has(id)) health.delete(id);
    this.stateReadMs = now;
    if (slice && slice[1] === 1) this.sliceReadMs.fill(now);
    else if (slice && slice[1] === this.healthSlices) this.sliceReadMs[slice[0]] = now;
  }

  /** The rows (state and report) of these sites only, merged into what was read before. */
  private async refreshSites(ids: readonly string[]): Promise<void> {
    const now = this.clock.now();
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      const rows = await this.o.db.query<Row>(
        `SELECT p.site_id, p.online, p.since_ms, p.last_seen_ms, p.node_id, n.heartbeat_ms, p.health, p.health_at_ms
         FROM site_presence p LEFT JOIN central_nodes n ON n.node_id = p.node_id WHERE p.site_id IN (${chunk.map((_, k) => `$${k + 1}`).join(", ")})`,
        chunk,
      );
      const found = new Set<string>();
      for (const r of rows) {
        found.add(r.site_id);
        this.shared.set(r.site_id, this.judge(r, now));
        if (r.health != null && r.health_at_ms != null) this.sharedHealth.set(r.site_id, { atMs: Number(r.health_at_ms), body: r.health });
        else this.sharedHealth.delete(r.site_id);
      }
      for (const id of chunk) if (!found.has(id)) (this.shared.delete(id), this.sharedHealth.delete(id));
    }
  }

  /** A row's state judged against its node's heartbeat: a lapsed node's "online" is offline since its last_seen. */
  private judge(r: Row, now: number): PresenceState {
    const raw = { online: r.online, sinceMs: Number(r.since_ms), lastSeenMs: Number(r.last_seen_ms) };
    const alive = r.heartbeat_ms !== null && Number(r.heartbeat_ms) > now - this.o.leaseMs;
    const online = raw.online && alive;
    return { online, sinceMs: raw.online && !online ? raw.lastSeenMs : raw.sinceMs, lastSeenMs: raw.lastSeenMs, nodeId: r.node_id };
  }
}
