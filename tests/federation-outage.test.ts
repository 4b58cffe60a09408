/**
 * Store and forward across a link outage with kill -9 (system test): a real central, a TCP
 * proxy between the edge and central's MQTT listener (cut = link down), and the edge in a
 * child process recording real fMP4 while it emits events, gaps and locks. After restore,
 * central has every event exactly once and in order, and its index mirror equals the edge's.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeMedia } from "../lib/store/testdata/media.ts";
import { enrollEdge, startTestCentral, tcpProxy, until, type TestCentral } from "./lib/cp.ts";
import { spawnLineChild, type LineChild } from "./lib/line-child.ts";

setDefaultTimeout(180_000);

let root: string;
let tc: TestCentral;
let proxy: Awaited<ReturnType<typeof tcpProxy>>;
let siteId: string;
let edgeDir: string;
let src: string;
let child: LineChild | null = null;

async function spawnEdge(): Promise<LineChild> {
  return spawnLineChild(["bun", path.join(import.meta.dir, "lib/edge-child.ts"), JSON.stringify({ dir: edgeDir, mqttUrl: `mqtts://localhost:${proxy.port}`, src })], "edge child");
}

const ticks = () => tc.events.filter((e) => e.kind === "tick").map((e) => e.eventId);
const db = () => tc.site.mirror.db;

async function mirror() {
  const segs = await db().query<{ s: string; e: string; b: string }>(`SELECT start_ms s, end_ms e, bytes b FROM cp_segments WHERE site_id = $1 AND camera_id = 'cam1' ORDER BY start_ms`, [siteId]);
  const gaps = await db().query<{ s: string; e: string; r: string }>(`SELECT start_ms s, end_ms e, reason r FROM cp_gaps WHERE site_id = $1 AND camera_id = 'cam1' ORDER BY start_ms`, [siteId]);
  const locks = await db().query<{ id: string }>(`SELECT lock_id id FROM cp_locks WHERE site_id = $1 ORDER BY lock_id`, [siteId]);
  return { segs: segs.map((r) => [Number(r.s), Number(r.e), Number(r.b)]), gaps: gaps.map((r) => [Number(r.s), Number(r.e), r.r]), locks: locks.map((l) => l.id) };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "outage-"));
  const media = await makeMedia(root, 4);
  void media;
  src = path.join(root, "src.mp4");
  tc = await startTestCentral(root);
  proxy = await tcpProxy(Number(new URL(tc.central.mqttUrl).port));
  edgeDir = path.join(root, "edge");
  siteId = (await enrollEdge(tc.central, "bus 7", edgeDir)).siteId;
});

afterAll(async () => {
  if (child && child.proc.exitCode === null) {
    child.proc.kill(9);
    await child.proc.exited;
  }
  await proxy?.close();
  await tc?.close();
  await rm(root, { recursive: true, force: true });
});

describe("store and forward across an outage", () => {
  test("link cut + kill -9 during the outage: every event once, in order; mirror equals the edge's index", async () => {
    child = await spawnEdge();
    await Bun.sleep(2000);
    await child.send("events 100");
    await until("first 100 events", () => ticks().length === 100);

    proxy.cut();
    await child.send("events 300");
    await child.send("gap");
    await child.send("lock");
    await Bun.sleep(2500);
    child.proc.kill(9); // mid-recording, link down, 300 events + gap + lock only in the outbox
    await child.proc.exited;

    child = await spawnEdge();
    await Bun.sleep(1500);
    await child.send("events 200");
    await child.send("gap");
    await Bun.sleep(2000);
    expect(ticks().length).toBe(100); // nothing got through while cut

    proxy.restore();
    await until("all 600 events", () => ticks().length >= 600, 60_000);
    await Bun.sleep(500);
    const got = ticks();
    expect(got.length).toBe(600);
    expect(got).toEqual(Array.from({ length: 600 }, (_, i) => `t-${i}`));

    await child.send("stop");
    let last: unknown;
    await until(
      "mirror equals the edge's index",
      async () => {
        const out = await child!.send("dump");
        const dump = JSON.parse(out.find((l) => l.startsWith("DUMP "))!.slice(5)) as { segs: number[][]; gaps: unknown[][]; locks: string[] };
        const m = await mirror();
        last = { edge: dump, central: m };
        return dump.segs.length >= 6 && JSON.stringify(dump.segs) === JSON.stringify(m.segs) && JSON.stringify(dump.gaps) === JSON.stringify(m.gaps) && JSON.stringify(dump.locks) === JSON.stringify(m.locks);
      },
      30_000,
      300,
    ).catch((e) => {
      console.error(JSON.stringify(last));
      throw e;
    });
    const m = await mirror();
    expect(m.gaps.map((g) => g[2])).toContain("camera-offline");
    expect(m.gaps.map((g) => g[2])).toContain("crash");
    expect(m.locks.length).toBe(1);
  });

  test("10,000 events across an outage: none lost, none duplicated", async () => {
    const before = ticks().length;
    proxy.cut();
    await child!.send("events 10000");
    await Bun.sleep(300);
    expect(ticks().length).toBe(before); // all 10,000 are only in the edge's outbox
    proxy.restore();
    await until("10,000 more events", () => ticks().length >= before + 10_000, 120_000, 200);
    await Bun.sleep(1000);
    const got = ticks();
    expect(got.length).toBe(before + 10_000);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `t-${i}`));
    const apiCount = await tc.api<{ events: unknown[] }>("GET", `/api/v1/sites/${siteId}/events?limit=10000&after=0`);
    expect(apiCount.status).toBe(200);
  });
});
