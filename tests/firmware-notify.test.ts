/**
 * Campaign notification over issue 4's command path: central (startCentralSite wires
 * firmware.setNotifier(commandNotifier(sites.command))) sends "_firmware-check" to each site of
 * a stage; the appliance edge (launcher → `outpost firmware run`: real edge + agent, uplink
 * `commands` include firmwareCommandHandlers) checks for the offer at once. Offer polling is
 * set to 10 min, so only the notification can explain an install within seconds.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import { removeTempDirs, until } from "./helpers.ts";
import { edgeRelease, FirmwareWorld, type ApplianceEdge, type Release } from "./lib/firmware-edge.ts";

const w = new FirmwareWorld();
let v1: Release;
let v2: Release;
let edge: ApplianceEdge;

beforeAll(async () => {
  await w.start();
  v1 = await edgeRelease(w.root, w.keys, { version: "1.0.0", metaVersion: 1, payloadBytes: 256 * 1024, seed: 1 });
  v2 = await edgeRelease(w.root, w.keys, { version: "1.1.0", metaVersion: 2, payloadBytes: 256 * 1024, seed: 2 });
  await w.upload(v2);
  edge = await w.edge("notified", v1, { pollS: 600 });
  edge.start();
  await until("edge connected to central", () => w.site.sites.online(edge.siteId), 60_000);
}, 120_000);

afterAll(async () => {
  await w.close();
  await removeTempDirs();
}, 60_000);

test("campaign start reaches an enrolled appliance edge within seconds although it polls every 10 min", async () => {
  // The agent's first poll happens at start; let it pass so the next one is 10 min away.
  await Bun.sleep(2000);
  const t0 = Date.now();
  const id = await w.campaign("1.1.0", [edge.siteId]);
  const s = await until("site left 'pending'", async () => {
    const st = await w.siteStatus(id, edge.siteId);
    return st && st.state !== "pending" ? st : null;
  }, 15_000, 100);
  const reactedMs = Date.now() - t0;
  expect(["downloading", "installed", "healthy"]).toContain(s.state);
  expect(reactedMs).toBeLessThan(15_000);
  // And the update goes all the way: switch, trial boot of the real edge, health check, commit.
  const done = await until("site healthy", async () => ((await w.siteStatus(id, edge.siteId))?.state === "healthy" ? true : null), 90_000, 250);
  expect(done).toBe(true);
  expect(await edge.state()).toMatchObject({ current: "b", pending: null });

  // Control: the same kind of edge with the notifier taken away sees nothing for its 10 min poll.
  const quiet = await w.edge("unnotified", v1, { pollS: 600 });
  quiet.start();
  await until("second edge connected", () => w.site.sites.online(quiet.siteId), 60_000);
  await Bun.sleep(2000);
  w.site.central.firmware.setNotifier(undefined);
  const id2 = await w.campaign("1.1.0", [quiet.siteId]);
  await Bun.sleep(5000);
  expect((await w.siteStatus(id2, quiet.siteId)).state).toBe("pending");
  console.log(`firmware-notify: campaign → site out of 'pending' in ${reactedMs} ms (poll 600 s), ${path.basename(edge.data)} healthy on 1.1.0`);
}, 120_000);
