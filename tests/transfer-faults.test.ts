/**
 * Transfer engine under faults (system test): the federation link flaps every few seconds,
 * the edge is killed with -9 mid-transfer and restarted, then central is killed with -9 and
 * restarted on the same data dir. Afterwards every edge segment the policy (`both`) requires
 * is at central with the same SHA-256, each committed once, and what central threw away
 * (bytes outside whole verified chunks) is at most one chunk per interruption.
 */
import "reflect-metadata";
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeMedia } from "../lib/store/testdata/media.ts";
import { until } from "./lib/cp.ts";
import { centralSegments, enrollSite, kill, links, spawnCentral, spawnEdge, type CentralProc, type EdgeProc } from "./lib/transfer-harness.ts";
import type { LinkEmulator } from "../federation/transfer/testkit.ts";

setDefaultTimeout(240_000);
const CHUNK = 16 * 1024; // 162 kB segments = 10 chunks, sent as PUTs of 4 chunks

let root: string;
let c: CentralProc | null = null;
let e: EdgeProc | null = null;
let l: { mqtt: LinkEmulator; fed: LinkEmulator } | null = null;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "outpost-transfer-faults-"));
  await makeMedia(root, 4);
});
afterAll(async () => {
  await kill(e);
  await kill(c as never, 15);
  await l?.mqtt.close();
  await l?.fed.close();
  await rm(root, { recursive: true, force: true });
});

test("flaps, kill -9 of the edge and of central mid-transfer: nothing lost, nothing twice, ≤ one chunk re-sent per interruption", async () => {
  const centralDir = path.join(root, "central");
  c = await spawnCentral(centralDir, { chunkSize: CHUNK, settleMs: 3000 });
  const edgeDir = path.join(root, "edge");
  const site = await enrollSite(c, "ferry", edgeDir);
  expect((await c.api("PUT", `/api/v1/sites/${site}/policy`, { options: ["both"] })).status).toBe(200);
  l = await links(c, { rateBps: 4_000_000, rttMs: 40 });
  const cams = ["cam1", "cam2"];
  const edgeOpts = { dir: edgeDir, mqttPort: l.mqtt.port, fedPort: l.fed.port, src: path.join(root, "src.mp4"), cameras: cams };
  e = await spawnEdge(edgeOpts);
  await Bun.sleep(3000);
  l.fed.flap(3000, 1500);
  await Bun.sleep(4000);
  await kill(e); // mid-transfer
  await Bun.sleep(1000);
  e = await spawnEdge(edgeOpts);
  await Bun.sleep(4000);
  await until("an upload in flight", async () => (await c!.api<{ receiver: { bytesReceived: number } }>("GET", `/api/v1/sites/${site}/transfer`)).body.receiver.bytesReceived > 0, 10_000, 50);
  await kill(c as never); // central dies mid-transfer
  c = await spawnCentral(centralDir, { chunkSize: CHUNK, settleMs: 3000 });
  l.fed.setTarget(c.federationPort);
  l.mqtt.setTarget(c.mqttPort);
  l.mqtt.cut(); // the edge's MQTT session pointed at the dead central
  l.mqtt.restore();
  const cutsBefore = l.fed.cuts;
  await Bun.sleep(5000);
  l.fed.stopFlap();
  l.fed.restore();
  const cuts = l.fed.cuts - cutsBefore;
  await e.send("stop");
  const edge = await e.dump();
  let diff = "";
  await until(
    "every segment at central",
    async () => {
      for (const cam of cams) {
        const got = new Map((await centralSegments(c!, `${site}.${cam}`)).map((g) => [g.startMs, g]));
        const want = edge.cams[cam]!;
        const missing = want.filter((w) => got.get(w.startMs)?.sha256 !== w.sha256);
        diff = `${cam}: ${missing.length} of ${want.length} missing ${JSON.stringify(missing.map((m) => [m.startMs, m.bytes, got.get(m.startMs)]))} central has ${got.size}`;
        if (missing[0]) diff += JSON.stringify((await c!.api("GET", `/api/v1/cameras/${site}.${cam}/timeline?from=${new Date(missing[0].startMs - 3000).toISOString()}&to=${new Date(missing[0].endMs + 3000).toISOString()}`)).body);
        if (missing.length || got.size !== want.length) return false;
      }
      return true;
    },
    90_000,
    500,
  ).catch(async (err) => {
    throw new Error(`${(err as Error).message}; ${diff}; ${JSON.stringify((await c!.api("GET", `/api/v1/sites/${site}/transfer`)).body)}; edge ${JSON.stringify((await e!.dump()).transfer)}`);
  });
  const total = cams.reduce((a, cam) => a + edge.cams[cam]!.length, 0);
  expect(total).toBeGreaterThan(20);
  const tr = await c.api<{ commits: number; receiver: { bytesDiscarded: number; resumes: number; commits: number; alreadyHad: number; bytesReceived: number } }>("GET", `/api/v1/sites/${site}/transfer`);
  expect(tr.body.commits).toBe(total); // each segment committed exactly once over both central lifetimes
  // This central's lifetime saw `cuts` link drops: each may waste at most the chunk in flight per upload (2 workers).
  console.log(JSON.stringify({ total, cuts, receiver: tr.body.receiver, fedBytesUp: l.fed.bytes.up, edge: (await e.dump()).transfer.stats }));
  expect(tr.body.receiver.bytesDiscarded).toBeLessThanOrEqual((cuts + 1) * 2 * CHUNK);
  expect(tr.body.receiver.alreadyHad).toBe(0);
});
