/** otherNodesAlive on both drivers: a node's unexpired leases make it alive to the others, and only to them. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { migrateUp } from "../db/index.ts";
import { testDrivers } from "../db/testkit.ts";
import { Leases, otherNodesAlive } from "./index.ts";

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(tmpdir(), "outpost-alone-"));
});
const { drivers, stop } = testDrivers(() => tmp);
afterAll(async () => {
  await stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

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
