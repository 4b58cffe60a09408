/**
 * Shared presence (site_presence) on both drivers (embedded PGlite; a real PostgreSQL 15 with
 * two Database handles = two nodes): a site online on node A — the owner of its partition — is
 * shown online by node B's reader, with A's node id and the time it came online; A's writes
 * are batched and throttled (a state change at the next flush, last_seen at most once per
 * throttle); when A's heartbeat lapses B shows the site offline since it was last seen, and
 * once B owns the partition it writes the row itself. Heartbeats are real Leases rounds on a
 * hand-driven clock.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../lib/clock.ts";
import type { Database } from "../db/index.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { openMigratedPair } from "../db/testkit.ts";
import { Leases } from "./leases.ts";
import { SharedPresence, type HealthReport, type LocalPresence } from "./presence.ts";

// Two "nodes": on the server two Database handles (two connection pools) on one database; on
// PGlite (one process, one connection) both share the handle.
const { drivers } = driversInTempDir("presencetest");

const HB = 1_000;
const LEASE = 3_000;
const THROTTLE = 1_000;

/** The database, every query's SQL recorded (which reads a node makes). */
const spied = (db: Database, sqls: string[]): Database =>
  new Proxy(db, {
    get(t, k) {
      if (k === "query") return (sql: string, params?: unknown[]) => (sqls.push(sql), t.query(sql, params as never));
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });

const SITES = Array.from({ length: 40 }, (_, i) => `bus-${i}`);

for (const d of drivers) {
  describe.skipIf(d.skip)(`shared presence: ${d.name}`, () => {
    let dbA: Database;
    let dbB: Database;
    let closeDbs: () => Promise<void>;
    const clock = new ManualClock(Date.UTC(2026, 11, 4, 8, 0, 0));
    let la: Leases;
    let lb: Leases;
    let pa: SharedPresence;
    let pb: SharedPresence;
    const localA = new Map<string, LocalPresence>();
    const localB = new Map<string, LocalPresence>();
    const healthA = new Map<string, HealthReport>();
    const adoptedB: [string, number][] = [];
    let siteA: string; // owned by A
    let siteB: string; // owned by B
    const writer = (db: Database, leases: Leases, local: Map<string, LocalPresence>, adopted?: [string, number][], health?: Map<string, HealthReport>) =>
      new SharedPresence({ db, nodeId: leases.nodeId, owns: (id) => leases.owns(id), sites: () => SITES, local: (id) => local.get(id) ?? { online: false, lastSeenMs: null }, health: (id) => health?.get(id), adopt: (id, ms) => adopted?.push([id, ms]), leaseMs: LEASE, intervalMs: HB, throttleMs: THROTTLE, healthShareMs: THROTTLE, clock });

    beforeAll(async () => {
      ({ a: dbA, b: dbB, close: closeDbs } = await openMigratedPair(d));
      la = new Leases({ db: dbA, nodeId: "node-a", clock, heartbeatMs: HB, leaseMs: LEASE });
      lb = new Leases({ db: dbB, nodeId: "node-b", clock, heartbeatMs: HB, leaseMs: LEASE });
      await la.start({ timers: false });
      await lb.start({ timers: false });
      await la.round(); // A gives back above its fair share
      await lb.round(); // B claims it
      siteA = SITES.find((s) => la.owns(s) && !lb.owns(s))!;
      siteB = SITES.find((s) => lb.owns(s) && !la.owns(s))!;
      expect(siteA && siteB).toBeTruthy();
      pa = writer(dbA, la, localA, undefined, healthA);
      pb = writer(dbB, lb, localB, adoptedB);
    });
    afterAll(async () => {
      la.halt();
      lb.halt();
      await closeDbs?.();
    });

    test("a site online via node A is online in node B's reader (since, node); A answers it from its own memory", async () => {
      const t0 = clock.now();
      localA.set(siteA, { online: true, lastSeenMs: t0 });
      expect(await pa.flush()).toBe(1); // one row: never-seen offline sites are not written
      await pb.refresh();
      expect(pb.remote(siteA)).toEqual({ online: true, sinceMs: t0, lastSeenMs: t0, nodeId: "node-a" });
      expect(pa.remote(siteA)).toBeUndefined(); // the owner's own knowledge answers
      expect(pb.remote(siteB)).toBeUndefined();
      // Node A's own API never asks the table for it; a site with no row is unknown to B.
      expect(pb.remote(SITES.find((s) => s !== siteA && la.owns(s))!)).toBeUndefined();
    });

    test("activity is throttled: last_seen written at most once per throttle; a state change at the next flush", async () => {
      const t0 = clock.now();
      clock.advance(THROTTLE / 2);
      expect(await pa.flush()).toBe(0);
      clock.advance(THROTTLE);
      expect(await pa.flush()).toBe(1);
      await pb.refresh();
      expect(pb.remote(siteA)).toEqual({ online: true, sinceMs: t0, lastSeenMs: clock.now(), nodeId: "node-a" });
      // Disconnect: written at the next flush although within the throttle; offline since last seen.
      const seen = clock.now();
      clock.advance(100);
      localA.set(siteA, { online: false, lastSeenMs: seen });
      expect(await pa.flush()).toBe(1);
      await pb.refresh();
      expect(pb.remote(siteA)).toEqual({ online: false, sinceMs: seen, lastSeenMs: seen, nodeId: "node-a" });
      // Back: online since now, one batched statement for several sites of A.
      clock.advance(500);
      const back = clock.now();
      const other = SITES.find((s) => s !== siteA && la.owns(s))!;
      localA.set(siteA, { online: true, lastSeenMs: back });
      localA.set(other, { online: true, lastSeenMs: back });
      expect(await pa.flush()).toBe(2);
      await pb.refresh();
      expect(pb.remote(siteA)).toMatchObject({ online: true, sinceMs: back });
      expect(pb.remote(other)).toMatchObject({ online: true, sinceMs: back });
      // B never writes A's sites.
      localB.set(siteA, { online: false, lastSeenMs: null });
      expect(await pb.flush()).toBe(0);
    });

    test("health reports ride with the owner's rows: B lists A's sites' health; a newer report at most once per throttle, in the flush's one statement", async () => {
      const other = SITES.find((s) => s !== siteA && la.owns(s))!;
      const report = (n: number) => ({ atMs: clock.now(), body: { disk: { freeBytes: n }, streams: [{ cameraId: "cam1", stream: "main", state: "recording" }] } });
      const rounds = async () => (await la.round(), await lb.round()); // leases renewed on the hand-driven clock
      clock.advance(THROTTLE); // due anyway: both sites online, last_seen throttle passed
      await rounds();
      healthA.set(siteA, report(1));
      healthA.set(other, report(2));
      expect(await pa.flush()).toBe(2);
      await pb.refresh();
      expect(pb.remoteHealth(siteA)).toEqual(healthA.get(siteA)!);
      expect(pb.remoteHealthAll().map(([id]) => id).sort()).toEqual([siteA, other].sort());
      expect(pa.remoteHealthAll()).toEqual([]); // A's own sites: its memory answers
      // A newer report within the throttle waits; at the throttle it is written (the row's other report is kept).
      clock.advance(THROTTLE / 4);
      await rounds();
      healthA.set(siteA, report(3));
      expect(await pa.flush()).toBe(0);
      clock.advance(THROTTLE);
      await rounds();
      expect(await pa.flush()).toBe(2); // both online: last_seen due; siteA carries its new report, `other` keeps its old one
      await pb.refresh();
      expect(pb.remoteHealth(siteA)).toEqual(healthA.get(siteA)!);
      expect(pb.remoteHealth(other)).toEqual(healthA.get(other)!);
      const [row] = await dbB.query<{ health: { disk: { freeBytes: number } } }>(`SELECT health FROM site_presence WHERE site_id = $1`, [other]);
      expect(row!.health.disk.freeBytes).toBe(2);
      healthA.delete(siteA);
      healthA.delete(other);
    });

    test("a reader's tick re-reads one slice of the health reports, never the whole fleet's at once; each report within healthShareMs", async () => {
      const rounds = async () => (await la.round(), await lb.round());
      const mine = SITES.filter((s) => la.owns(s));
      const report = (n: number) => ({ atMs: clock.now(), body: { disk: { freeBytes: n }, streams: [] } });
      const writeAll = async (n: number) => {
        clock.advance(THROTTLE);
        await rounds();
        for (const s of mine) {
          localA.set(s, { online: true, lastSeenMs: clock.now() });
          healthA.set(s, report(n));
        }
        expect(await pa.flush()).toBe(mine.length);
      };
      await writeAll(1);
      // Reports shared every 4 ticks: each tick reads a quarter of them (by site), keeps the rest as read before.
      const reader = new SharedPresence({ db: dbB, nodeId: "node-r", owns: () => false, ownsAll: () => false, sites: () => [], local: () => ({ online: false, lastSeenMs: null }), leaseMs: LEASE, intervalMs: HB, throttleMs: THROTTLE, healthShareMs: 4 * HB, clock });
      const seen = () => new Map(reader.remoteHealthAll().map(([id, h]) => [id, (h.body as { disk: { freeBytes: number } }).disk.freeBytes]));
      await reader.fresh(); // the first ask: every report at once (nothing was read before)
      expect(seen()).toEqual(new Map(mine.map((s) => [s, 1])));
      // Newer reports: a tick brings its slice's; the other sites keep the report read before (none dropped).
      await writeAll(2);
      await reader.tick();
      const after = seen();
      expect([...after.keys()].sort()).toEqual([...mine].sort());
      expect([...after.values()].filter((v) => v === 2).length).toBeLessThan(mine.length);
      for (let i = 0; i < 3; i++) await reader.tick();
      expect(seen()).toEqual(new Map(mine.map((s) => [s, 2])));
      // Presence itself is read whole every tick.
      expect(reader.remote(mine[0]!)).toMatchObject({ online: true, nodeId: "node-a" });
      for (const s of mine) healthA.delete(s);
    });

    test("a cluster node nobody asks reads no other site's presence (its ticks flush its own sites only)", async () => {
      const sqls: string[] = [];
      const idle = new SharedPresence({ db: spied(dbB, sqls), nodeId: "node-r", owns: () => false, ownsAll: () => false, sites: () => [], local: () => ({ online: false, lastSeenMs: null }), leaseMs: LEASE, intervalMs: HB, throttleMs: THROTTLE, healthShareMs: 4 * HB, clock });
      await idle.start();
      for (let i = 0; i < 5; i++) await idle.tick();
      await idle.close();
      expect(sqls.filter((q) => /FROM site_presence/.test(q))).toEqual([]);
    });

    test("a lookup after idleness answers fresh data (state and every report); the read then runs while asked and stops after demandMs", async () => {
      const rounds = async () => (await la.round(), await lb.round());
      const sqls: string[] = [];
      const reads = () => sqls.filter((q) => /FROM site_presence/.test(q)).length;
      const idle = new SharedPresence({ db: spied(dbB, sqls), nodeId: "node-r", owns: () => false, ownsAll: () => false, sites: () => [], local: () => ({ online: false, lastSeenMs: null }), leaseMs: LEASE, intervalMs: HB, throttleMs: THROTTLE, healthShareMs: 4 * HB, demandMs: 2 * HB, clock });
      await idle.tick();
      // While nobody asks, A's site goes offline with a new report.
      const site = SITES.find((s) => s !== siteA && la.owns(s))!;
      clock.advance(THROTTLE);
      await rounds();
      const off = clock.now();
      localA.set(site, { online: false, lastSeenMs: off });
      healthA.set(site, { atMs: off, body: { disk: { freeBytes: 77 }, streams: [] } });
      expect(await pa.flush()).toBeGreaterThanOrEqual(1);
      expect(reads()).toBe(0);
      await idle.fresh();
      expect(idle.remote(site)).toMatchObject({ online: false, lastSeenMs: off, nodeId: "node-a" });
      expect(idle.remoteHealth(site)).toEqual(healthA.get(site)!);
      // Asked again within the interval: answered from memory, no second read.
      const after = reads();
      await idle.fresh();
      expect(reads()).toBe(after);
      // The periodic read runs on while asked lately…
      await idle.tick();
      expect(reads()).toBe(after + 1);
      // …and stops once nobody asked for demandMs.
      for (let i = 0; i < 3; i++) (clock.advance(HB), await rounds());
      await idle.tick();
      expect(reads()).toBe(after + 1);
      localA.set(site, { online: true, lastSeenMs: clock.now() });
      healthA.delete(site);
    });

    test("a node that takes a site over after idleness reads its row first: adopts the owner's latest sighting, not a stale memory", async () => {
      const rounds = async () => (await la.round(), await lb.round());
      const site = SITES.filter((s) => s !== siteA && la.owns(s)).at(-1)!;
      let taken = false;
      const adopted: [string, number][] = [];
      const sqls: string[] = [];
      const next = new SharedPresence({ db: spied(dbB, sqls), nodeId: "node-b", owns: (id) => taken && id === site, ownsAll: () => false, sites: () => [site], local: () => ({ online: false, lastSeenMs: null }), adopt: (id, ms) => adopted.push([id, ms]), leaseMs: LEASE, intervalMs: HB, throttleMs: THROTTLE, healthShareMs: THROTTLE, clock });
      await next.refresh(); // what it knew once, before the takeover
      clock.advance(2 * THROTTLE);
      await rounds();
      const latest = clock.now();
      localA.set(site, { online: true, lastSeenMs: latest });
      expect(await pa.flush()).toBeGreaterThanOrEqual(1);
      taken = true;
      sqls.length = 0;
      expect(await next.flush()).toBe(1);
      expect(sqls.filter((q) => /FROM site_presence/.test(q))).toHaveLength(1); // that site's row only (bound ids)
      expect(adopted).toEqual([[site, latest]]);
      const [row] = await dbB.query<{ last_seen_ms: number; node_id: string }>(`SELECT last_seen_ms, node_id FROM site_presence WHERE site_id = $1`, [site]);
      expect({ seen: Number(row!.last_seen_ms), node: row!.node_id }).toEqual({ seen: latest, node: "node-b" });
    });

    test("A's heartbeat lapses: B shows its sites offline since last seen, then writes them as their new owner", async () => {
      const lastSeen = (await dbB.query<{ last_seen_ms: number }>(`SELECT last_seen_ms FROM site_presence WHERE site_id = $1`, [siteA]))[0]!.last_seen_ms;
      la.halt(); // killed: no graceful hand-over, its rows still say online
      await pb.refresh();
      expect(pb.remote(siteA)?.online).toBe(true); // within the lease: still A's word
      clock.advance(LEASE + HB);
      await lb.round(); // B's heartbeat (and its claim of A's lapsed partitions)
      // Before B's reader judges A's row: the row itself still says online.
      expect((await dbB.query<{ online: boolean }>(`SELECT online FROM site_presence WHERE site_id = $1`, [siteA]))[0]!.online).toBe(true);
      const lb2 = new Leases({ db: dbB, nodeId: "node-c", clock, heartbeatMs: HB, leaseMs: LEASE });
      await lb2.start({ timers: false }); // a third node's reader that owns nothing of A's (claims only its share)
      const pc = new SharedPresence({ db: dbB, nodeId: "node-c", owns: () => false, sites: () => SITES, local: () => ({ online: false, lastSeenMs: null }), leaseMs: LEASE, intervalMs: HB, throttleMs: THROTTLE, healthShareMs: THROTTLE, clock });
      await pc.refresh();
      expect(pc.remote(siteA)).toEqual({ online: false, sinceMs: Number(lastSeen), lastSeenMs: Number(lastSeen), nodeId: "node-a" });
      lb2.halt();

      // B now owns A's partition: its flush writes the row (offline since last seen, under B's id) until the edge is back.
      expect(lb.owns(siteA)).toBe(true);
      await pb.refresh();
      expect(pb.remote(siteA)).toBeUndefined(); // owned: B's own memory answers
      expect(await pb.flush()).toBeGreaterThanOrEqual(1);
      expect(adoptedB.filter(([id]) => id === siteA)).toEqual([[siteA, Number(lastSeen)]]); // the previous owner's last sighting, handed to B's control plane once
      const [row] = await dbB.query<{ online: boolean; since_ms: number; node_id: string }>(`SELECT online, since_ms, node_id FROM site_presence WHERE site_id = $1`, [siteA]);
      expect({ online: row!.online, since: Number(row!.since_ms), node: row!.node_id }).toEqual({ online: false, since: Number(lastSeen), node: "node-b" });
      // The edge reconnects to B: online since now.
      const now = clock.now();
      localB.set(siteA, { online: true, lastSeenMs: now });
      expect(await pb.flush()).toBeGreaterThanOrEqual(1);
      const [row2] = await dbB.query<{ online: boolean; since_ms: number; node_id: string }>(`SELECT online, since_ms, node_id FROM site_presence WHERE site_id = $1`, [siteA]);
      expect({ online: row2!.online, since: Number(row2!.since_ms), node: row2!.node_id }).toEqual({ online: true, since: now, node: "node-b" });
    });
  });
}
