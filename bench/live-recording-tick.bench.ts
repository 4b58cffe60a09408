/**
 * What central's transfer engine tick spends on live recording (central/transfer/live-recording.ts,
 * every engine tick, 1 s, on every node) as the fleet's cameras grow, next to its baseline in the
 * same run: the tick as it was — the whole fleet's camera views (Sites.cameras(): health,
 * presence and site state per camera), filtered to the node's sites, and the site's policy read
 * (two statements) per camera — against LiveRecording.reconcile now (the per-site camera index,
 * the node's sites only, their policies in one statement). The cluster benchmark's simulated
 * edges send no device trees, so this cost does not show there. Embedded PGlite (the database
 * runs in this process, so its CPU is counted); a node owns a third of the partitions, or all.
 * CPU of this process per tick, after one warm tick.
 *
 *   bun bench/live-recording-tick.bench.ts [--sites 1000,4000] [--cameras 8]
 */
import "reflect-metadata";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ManualClock } from "../lib/clock.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { effectivePolicy, type SitePolicy } from "../federation/transfer/index.ts";
import { partitionOf } from "../central/cluster/partition.ts";
import { migrateUp } from "../central/db/index.ts";
import { testEmbedded } from "../central/db/testkit.ts";
import { EdgeIndex } from "../central/mirror/index.ts";
import { openFleetTables } from "../central/mirror/tables.ts";
import { Sites } from "../central/sites/sites.ts";
import { MemoryBus } from "../central/sites/testkit.ts";
import { LiveRecording } from "../central/transfer/live-recording.ts";
import { SiteInputs } from "../central/transfer/site-inputs.ts";
import { cpuMsPerCall, machine } from "./lib/proc.ts";

const { values } = parseArgs({ options: { sites: { type: "string", default: "1000,4000" }, cameras: { type: "string", default: "8" } } });
const CAMS = Number(values.cameras);
const log = new Logger({ component: "bench", sink: new MemorySink() });


const lines = ["| sites × cameras | node owns | before: fleet camera views + a policy read per camera | now: reconcile | ratio |", "| --- | --- | ---: | ---: | ---: |"];
for (const n of values.sites!.split(",").map(Number)) {
  const dir = await mkdtemp(path.join(tmpdir(), "lr-tick-"));
  const db = await testEmbedded(path.join(dir, "pg"));
  await migrateUp(db);
  const streams = JSON.stringify([{ kind: "main", codec: "avc1.640028", width: 1920, height: 1080 }, { kind: "sub", codec: "avc1.4d401e", width: 640, height: 360 }]);
  const rows: string[][] = [];
  for (let s = 0; s < n; s++) for (let c = 0; c < CAMS; c++) rows.push([`site-${s}`, `cam${c}`, `Camera ${c}`, "true", streams, String(Date.now())]);
  for (let i = 0; i < rows.length; i += 1000) await db.copyRows("cp_cameras", ["site_id", "camera_id", "name", "enabled", "streams", "updated_ms"], rows.slice(i, i + 1000));
  const mirror = new EdgeIndex(db, await openFleetTables(path.join(dir, "fleet.duckdb")));
  const sites = new Sites({ mirror, clock: new ManualClock(Date.now()), log, siteExists: () => true, remotePresence: () => ({ online: true }) });
  await sites.start(new MemoryBus("bench"));
  // A policy on a third of the sites (on request: nothing is recorded, the tick only decides).
  for (let s = 0; s < n; s += 3) await sites.setDesired(`site-${s}`, { policy: { options: ["on-request"] } as SitePolicy }, "bench");
  const inputs = new SiteInputs({ db, sites } as unknown as ConstructorParameters<typeof SiteInputs>[0]);
  for (const [label, owns] of [["a third", (id: string) => partitionOf(id) < 86], ["all", () => true]] as const) {
    // The tick before: what LiveRecording.reconcile read per tick (no recorder started: on-request).
    const before = async () => {
      for (const cam of (await sites.cameras()).filter((x) => !x.revoked && owns(x.siteId))) effectivePolicy((await inputs.policy(cam.siteId)).policy, cam.channel);
    };
    const now = new LiveRecording({ sites, inputs, log, recordLive: () => async () => undefined, owns });
    const b = await cpuMsPerCall(before, 2);
    const a = await cpuMsPerCall(() => now.reconcile(), 10);
    lines.push(`| ${n} × ${CAMS} | ${label} | ${b.toFixed(1)} ms | ${a.toFixed(1)} ms | ${(b / a).toFixed(0)}× |`);
  }
  await sites.close();
  await mirror.close();
  await db.close();
  await rm(dir, { recursive: true, force: true });
}
console.log(`\nLive recording's tick: ${machine()}, load ${loadavg().map((x) => x.toFixed(1)).join(" ")}\n`);
console.log(lines.join("\n"));
