/** otherNodesAlive on both drivers: a node's unexpired leases make it alive to the others, and only to them. */
import { describe, expect, test } from "bun:test";
import { ManualClock } from "../../lib/clock.ts";
import { migrateUp } from "../db/index.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { Leases, otherNodesAlive } from "./index.ts";

const { drivers } = driversInTempDir("alone");

for (const d of drivers) {
  describe.skipIf(d.skip)(`otherNodesAlive: ${d.name}`, () => {
    test("true for another node while a's leases run, false for a itself and once they lapsed", async () => {
      const db = await d.open();
      const clock = new ManualClock(Date.UTC(2026, 11, 4, 9));
      const a = new Leases({ db, nodeId: "node-a", clock, heartbeatMs: 1000, leaseMs: 3000 });
      try {
        await migrateUp(db);
        expect(await otherNodesAlive(db, "node-b", clock.now())).toBe(false);
        await a.start({ timers: false });
        expect(await otherNodesAlive(db, "node-b", clock.now())).toBe(true);
        expect(await otherNodesAlive(db, "node-a", clock.now())).toBe(false);
        a.halt();
        clock.advance(3001);
        expect(await otherNodesAlive(db, "node-b", clock.now())).toBe(false);
      } finally {
        await a.close();
        await db.close();
      }
    });
  });
}
