import "reflect-metadata";
/**
 * Issue 14: a frozen frame must never be served as live. Real chain camsim → edge → central:
 * after the uplink ended and the camera stopped, a viewer reopening the camera gets no old
 * fragment (no GOP replay from central's or the edge's cache) and LL-HLS has no playlist until
 * fresh parts arrive; every fragment a viewer gets carries its capture time.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startLiveRig, untilRecording, type LiveRig } from "./testkit.ts";
import { TestViewer } from "./viewer.ts";

const STALE_MS = 3000;
let rig: LiveRig;
let site: string;
const until = async (what: string, cond: () => boolean, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
};
const capturedTimes = (v: TestViewer) => v.texts.filter((t) => t.type === "time").map((t) => t.capturedAtMs as number);

beforeAll(async () => {
  rig = await startLiveRig({ cameras: 1, live: { graceMs: 1000, hlsHoldMs: 1000, hub: { maxStaleMs: STALE_MS }, hls: { blockTimeoutMs: 2000 } } });
  site = rig.identity.siteId;
  await untilRecording(rig.edge);
}, 60_000);

afterAll(async () => {
  await rig?.close();
}, 30_000);

test("reopening a camera whose uplink ended and whose camera stopped serves no old fragment, WS or LL-HLS", async () => {
  const ws = `${rig.central.apiUrl.replace(/^http/, "ws")}/api/v1/cameras/${site}.cam1/live`;
  const m3u8 = `${rig.central.apiUrl}/api/v1/cameras/${site}.cam1/live.m3u8`;
  const auth = { authorization: `Bearer ${rig.token}` };
  const first = new TestViewer(ws, rig.token);
  await until("first viewer playing", () => first.fragments > 4);
  // Each fragment comes with its capture time, and live ones are recent.
  const times = capturedTimes(first);
  expect(times.length).toBe(first.fragments);
  expect(Date.now() - times.at(-1)!).toBeLessThan(STALE_MS);
  expect((await fetch(m3u8, { headers: auth })).status).toBe(200);
  first.close();
  // The uplink ends (grace 1 s; the HLS hold 15 s), then the camera stops.
  await until("uplink stopped", () => rig.live.stats().every((s) => !s.uplinkActive), 40_000).catch((e) => {
    console.log(JSON.stringify(rig.live.stats()));
    throw e;
  });
  await rig.sim.stop("cam1");
  await Bun.sleep(STALE_MS + 1000);

  const reopenedAt = Date.now();
  const again = new TestViewer(ws, rig.token);
  await until("viewer open", () => again.opened && !!again.header, 10_000).catch(() => undefined);
  const hls = await fetch(m3u8, { headers: auth });
  await Bun.sleep(2000);
  console.log(`reopened: ${again.fragments} fragments, capture ages ${capturedTimes(again).map((t) => reopenedAt - t)} ms; HLS ${hls.status}`);
  expect(again.fragments).toBe(0);
  expect(hls.status).toBe(503);

  // The camera comes back: fresh fragments flow again, each with a recent capture time.
  await rig.sim.start("cam1");
  await until("fresh fragments after the camera restarts", () => again.fragments > 2, 30_000);
  const back = capturedTimes(again);
  expect(back.length).toBe(again.fragments);
  expect(back.every((t) => t >= reopenedAt)).toBe(true);
  const pl = await (await fetch(m3u8, { headers: auth })).text();
  const pdt = [...pl.matchAll(/#EXT-X-PROGRAM-DATE-TIME:(\S+)/g)].map((m) => Date.parse(m[1]!));
  expect(pdt.length).toBeGreaterThan(0);
  expect(pdt.every((t) => t >= reopenedAt)).toBe(true);
  again.close();
}, 120_000);
