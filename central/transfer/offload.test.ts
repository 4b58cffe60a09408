import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import type { Database } from "../db/index.ts";
import { DepotOffload, OBSERVATION_MS } from "./offload.ts";
import { transferTestDrivers } from "./test-db.ts";

const t = transferTestDrivers();
// The first test of a driver starts its PostgreSQL server or PGlite; a loaded machine takes a while.
setDefaultTimeout(120_000);
afterAll(() => t.stop());

for (const drv of t.drivers) {
  describe.skipIf(drv.skip)(`depot offload: ${drv.name}`, () => {
    test("the window opens only parked on a depot link; done = nothing left after a run or as it opens, kept until the next, across a restart", async () => {
      const { a, b, close } = await drv.open();
      let db: Database = a;
      let now = 1_000_000;
      const d = () => ({ db, clock: { now: () => now }, log: new Logger({ component: "t", sink: new MemorySink(), level: "error" }) }) as never;
      try {
        let o = new DepotOffload(d());
        await o.load();
        const policy = { options: ["on-request" as const], offload: { links: ["depot-wifi"] } };
        o.observe("s", "depot-wifi", "running");
        expect(o.links("s", policy)).toBeNull(); // driving through the depot
        o.observe("s", "cellular", "parked");
        expect(o.links("s", policy)).toBeNull(); // parked elsewhere
        expect(o.links("s", { options: ["on-request"] })).toBeNull();
        o.observe("s", "depot-wifi", "parked");
        expect(o.links("s", policy)).toEqual(["depot-wifi"]);
        await o.progress("s", 5000);
        expect(o.view("s", policy)).toMatchObject({ state: "running", pendingBytes: 5000, lastOffloadedAt: null });
        now += 1000;
        await o.progress("s", 0);
        const done = o.view("s", policy);
        expect(done).toMatchObject({ state: "done", lastOffloadedAt: new Date(now).toISOString() });
        now += 5000;
        await o.progress("s", 0); // still parked, nothing new: the time stays
        expect(o.lastOffloadedMs("s")).toBe(now - 5000);
        o.observe("s", "depot-wifi", "running");
        o.closed("s");
        expect(o.view("s", policy).state).toBe("idle");
        // Restart (or another node): the last offload is remembered.
        db = b;
        o = new DepotOffload(d());
        await o.load();
        expect(o.lastOffloadedMs("s")).toBe(now - 5000);
        // Parked again with nothing to pull: done as the window opens.
        now += 60_000;
        o.observe("s", "depot-wifi", "parked");
        await o.progress("s", 0);
        expect(o.lastOffloadedMs("s")).toBe(now);
      } finally {
        await close();
      }
    });

    test("two nodes: the edge's polls move from A to B — A stops planning the offload from what it saw, and shows the offload B finished", async () => {
      const { a, b, close } = await drv.open();
      let now = 5_000_000;
      const node = (db: Database) => new DepotOffload({ db, clock: { now: () => now }, log: new Logger({ component: "t", sink: new MemorySink(), level: "error" }) } as never);
      const policy = { options: ["on-request" as const], offload: { links: ["depot-wifi"] } };
      try {
        const na = node(a);
        const nb = node(b);
        await na.load();
        await nb.load();
        // Parked at the depot, polling A: A pulls.
        na.observe("bus-3", "depot-wifi", "parked");
        expect(na.links("bus-3", policy)).toEqual(["depot-wifi"]);
        await na.progress("bus-3", 8000);
        expect(na.view("bus-3", policy).state).toBe("running");
        // A fails over (or the balancer moves the edge): B answers the polls from now on and finishes.
        now += 30_000;
        nb.observe("bus-3", "depot-wifi", "parked");
        await nb.progress("bus-3", 4000);
        now += 30_000;
        nb.observe("bus-3", "depot-wifi", "parked");
        await nb.progress("bus-3", 0);
        const doneAt = now;
        expect(nb.lastOffloadedMs("bus-3")).toBe(doneAt);
        // A has not heard from the edge for longer than a poll can wait: its window is closed (no depot plan, no progress from a stale report).
        now += OBSERVATION_MS - 60_000 + 1;
        expect(na.links("bus-3", policy)).toBeNull();
        expect(na.view("bus-3", policy).state).toBe("idle");
        // A's tick re-reads the table: the offload B finished shows on A too.
        await na.load();
        // …and only when it changed: ticks over an unchanged table read no rows (before: every site's, every 2 s).
        const reads: string[] = [];
        const counted = Object.assign(Object.create(a) as Database, { query: (sql: string, p?: unknown[]) => (sql.includes("done_ms FROM") && reads.push(sql), a.query(sql, p as never)) });
        const nc = node(counted);
        await nc.load();
        expect(reads).toHaveLength(1);
        for (let i = 0; i < 3; i++) await nc.load();
        expect(reads).toHaveLength(1);
        expect(nc.lastOffloadedMs("bus-3")).toBe(doneAt);
        expect(na.lastOffloadedMs("bus-3")).toBe(doneAt);
        expect(na.view("bus-3", policy).lastOffloadedAt).toBe(new Date(doneAt).toISOString());
      } finally {
        await close();
      }
    });
  });
}
