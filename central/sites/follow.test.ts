/**
 * Camera lists across nodes, on both drivers (on PostgreSQL 15 two Database handles = two
 * nodes): node A's control plane commits an edge's device tree; node B — which never hears that
 * edge — lists the new cameras without a restart: the tree's commit NOTIFYs `cameras_changed`
 * and B's cached list is read again. The heartbeat fallback (camerasChanged, called by
 * composeCentral every cluster round while other nodes own sites) covers a missed
 * notification: a tree B was not told of shows after it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { ManualClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { driversInTempDir } from "../database-testkit.ts";
import { openMigratedPair } from "../db/testkit.ts";
import { EdgeIndex } from "../mirror/index.ts";
import { openFleetTables } from "../mirror/tables.ts";
import { Sites } from "./sites.ts";
import { MemoryBus } from "./testkit.ts";

const SITE = "bus-9";
const OB = "00000000000000aa";
const T0 = Date.UTC(2026, 11, 4, 10, 0, 0);
const quiet = () => new Logger({ component: "test", sink: new MemorySink() });
const tree = (...ids: string[]) => ({ cameras: ids.map((id) => ({ id, name: id, enabled: true, streams: [{ kind: "main", status: "recording" }] })) });

const { drivers, tmp } = driversInTempDir("sitesfollow");

/** Polls until `f` holds (a notification is asynchronous); false after ~5 s. */
async function eventually(f: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await f()) return true;
    await Bun.sleep(50);
  }
  return false;
}

for (const d of drivers) {
  describe.skipIf(d.skip)(`camera lists across nodes: ${d.name}`, () => {
    const nodes: { sites: Sites; bus: MemoryBus; mirror: EdgeIndex }[] = [];
    let closeDbs: () => Promise<void>;
    beforeAll(async () => {
      const pair = await openMigratedPair(d);
      closeDbs = pair.close;
      for (const [db, name] of [[pair.a, "a"], [pair.b, "b"]] as const) {
        const mirror = new EdgeIndex(db, await openFleetTables(path.join(tmp(), `${d.name.split(" ")[0]}-${name}.duckdb`)));
        const sites = new Sites({ mirror, clock: new ManualClock(T0), log: quiet(), siteExists: () => true });
        const bus = new MemoryBus(SITE);
        await sites.start(bus);
        nodes.push({ sites, bus, mirror });
      }
    });
    afterAll(async () => {
      for (const n of nodes) (await n.sites.close(), await n.mirror.close());
      await closeDbs?.();
    });

    test("a device tree committed on node A shows in node B's cached camera list (NOTIFY)", async () => {
      const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      expect(await b.sites.cameras()).toEqual([]); // B's list is cached now
      a.bus.up(OB, 1, T0 + 1, "tree", tree("cam1", "cam2"));
      await a.sites.control.idle();
      expect((await a.sites.cameras()).map((c) => c.id)).toEqual([`${SITE}.cam1`, `${SITE}.cam2`]);
      expect(await eventually(async () => (await b.sites.cameras()).length === 2)).toBe(true);
      // A later tree (a camera removed) too.
      a.bus.up(OB, 2, T0 + 2, "tree", tree("cam2"));
      await a.sites.control.idle();
      expect(await eventually(async () => (await b.sites.cameras()).map((c) => c.id).join() === `${SITE}.cam2`)).toBe(true);
      // The per-site index (live recording, plans) follows the same reads.
      expect([...(await b.sites.camerasBySite())]).toEqual([[SITE, ["cam2"]]]);
    });

    test("the sites with cameras (ONVIF discovery's 10 s refresh) come from the camera rows alone: no other node's presence or health is asked", async () => {
      const b = nodes[1]!;
      const asked: string[] = [];
      const c = new Sites({ mirror: b.mirror, clock: new ManualClock(T0), log: quiet(), siteExists: () => true, remotePresence: (id) => (asked.push(id), undefined), remoteHealth: { all: () => (asked.push("*"), []), of: (id) => (asked.push(id), undefined) } });
      await c.start(new MemoryBus(SITE));
      try {
        expect(await eventually(async () => (await c.cameraSiteIds()).join() === SITE)).toBe(true);
        expect(asked).toEqual([]);
        await c.cameras(); // a camera view does ask (its online state and stream states)
        expect(asked.length).toBeGreaterThan(0);
      } finally {
        await c.close();
      }
    });

    test("a notification B missed: the heartbeat's fallback re-reads", async () => {
      const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      // A tree stored without a notification (as if B's LISTEN connection had dropped meanwhile).
      await a.mirror.db.run(`INSERT INTO cp_cameras (site_id, camera_id, name, enabled, streams, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)`, [SITE, "cam3", "cam3", true, "[]", T0]);
      expect((await b.sites.cameras()).map((c) => c.id)).toEqual([`${SITE}.cam2`]); // cached
      const index = await b.sites.camerasBySite();
      expect(await b.sites.camerasBySite()).toBe(index); // kept while the rows are
      b.sites.camerasChanged();
      expect((await b.sites.cameras()).map((c) => c.id)).toEqual([`${SITE}.cam2`, `${SITE}.cam3`]);
      expect((await b.sites.camerasBySite()).get(SITE)).toEqual(["cam2", "cam3"]);
      // One site's views, as the fleet's list has them.
      expect(await b.sites.camerasOf(SITE)).toEqual((await b.sites.cameras()).filter((c) => c.siteId === SITE));
      expect(await b.sites.camerasOf("bus-none")).toEqual([]);
    });

    test("the heartbeat's check re-reads the camera rows only when cp_cameras changed", async () => {
      const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      await b.sites.camerasMaybeChanged(); // the first check sets its baseline (and re-reads once)
      const index = await b.sites.camerasBySite();
      for (let i = 0; i < 3; i++) await b.sites.camerasMaybeChanged();
      expect(await b.sites.camerasBySite()).toBe(index); // unchanged table: the rows are not read again (before: every heartbeat)
      // Unannounced: a camera added, then one deleted.
      await a.mirror.db.run(`INSERT INTO cp_cameras (site_id, camera_id, name, enabled, streams, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)`, [SITE, "cam4", "cam4", true, "[]", T0]);
      await b.sites.camerasMaybeChanged();
      expect((await b.sites.camerasBySite()).get(SITE)).toEqual(["cam2", "cam3", "cam4"]);
      await a.mirror.db.run(`DELETE FROM cp_cameras WHERE site_id = $1 AND camera_id = $2`, [SITE, "cam2"]);
      await b.sites.camerasMaybeChanged();
      expect((await b.sites.cameras()).map((c) => c.id)).toEqual([`${SITE}.cam3`, `${SITE}.cam4`]);
    });

    test("desiredConfigs: each site's latest desired config in one read, written on either node", async () => {
      const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
      await a.sites.setDesired(SITE, { healthIntervalMs: 5000 }, "test");
      await a.sites.setDesired(SITE, { healthIntervalMs: 7000, policy: { options: ["both"] } }, "test");
      await b.sites.setDesired("bus-10", { healthIntervalMs: 9000 }, "test");
      const got = await b.sites.desiredConfigs([SITE, "bus-10", "bus-none"]);
      expect(Object.fromEntries(got)).toEqual({ [SITE]: { healthIntervalMs: 7000, policy: { options: ["both"] } }, "bus-10": { healthIntervalMs: 9000 } });
      expect((await b.sites.configView(SITE)).desired?.config).toEqual(got.get(SITE)); // what the per-site read says
      expect(await b.sites.desiredConfigs([])).toEqual(new Map());
    });
  });
}
