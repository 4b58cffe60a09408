/**
 * Progressive retrieval (system test: real central and edge processes, mTLS, a 2 Mbit/s link
 * emulator, real fMP4 in 1 s segments on both streams). A `sub-then-main` retrieval makes the
 * window playable at central from the sub stream before any of its main stream arrives; both
 * are decoded by ffprobe; the timeline says which quality central holds where.
 */
import "reflect-metadata";
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeMedia } from "../lib/store/testdata/media.ts";
import { until } from "./lib/cp.ts";
import { probeFrames } from "./helpers.ts";
import { centralSegments, enrollSite, kill, links, spawnCentral, spawnEdge, type CentralProc, type EdgeProc } from "./lib/transfer-harness.ts";
import type { LinkEmulator } from "../federation/transfer/testkit.ts";

setDefaultTimeout(180_000);
let root: string;
let c: CentralProc;
let e: EdgeProc | null = null;
const emus: LinkEmulator[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "outpost-progressive-"));
  await makeMedia(root, 4);
  c = await spawnCentral(path.join(root, "central"));
});
afterAll(async () => {
  await kill(e);
  for (const l of emus) await l.close();
  await kill(c as never, 15);
  await rm(root, { recursive: true, force: true });
});

test("sub-then-main: the window's sub stream is at central (and playable) before its main stream arrives", async () => {
  const dir = path.join(root, "bus");
  const siteId = await enrollSite(c, "bus", dir);
  expect((await c.api("PUT", `/api/v1/sites/${siteId}/policy`, { options: ["on-request"] })).status).toBe(200);
  const { mqtt, fed } = await links(c, { rateBps: 2_000_000 });
  emus.push(mqtt, fed);
  const t0 = Date.now();
  e = await spawnEdge({ dir, mqttPort: mqtt.port, fedPort: fed.port, src: path.join(root, "src.mp4"), cameras: ["cam1"], sub: true });
  const cam = `${siteId}.cam1`;
  const from = new Date(t0 + 2000).toISOString();
  const to = new Date(t0 + 8000).toISOString();
  // Both streams of the window are in central's index mirror.
  const tl = async (stream: string) => (await c.api<{ ranges: { end: string; held: string }[]; centralQuality: { start: string; end: string; quality: string }[] }>("GET", `/api/v1/cameras/${cam}/timeline?from=${from}&to=${to}&stream=${stream}`)).body;
  await until("the edge indexed both streams past the window", async () => (await tl("main")).ranges.at(-1)?.end === to && (await tl("sub")).ranges.at(-1)?.end === to, 60_000, 300);

  // The cost before it starts, per quality: sub-then-main moves both streams.
  const est = (await c.api<{ streams: Record<string, { bytes: number }>; qualities: Record<string, { bytes: number; text: string }> }>("GET", `/api/v1/cameras/${cam}/retrieval-estimate?from=${from}&to=${to}`)).body;
  expect(est.qualities.main!.bytes).toBe(est.streams.main!.bytes);
  expect(est.qualities["sub-then-main"]!.bytes).toBe(est.streams.main!.bytes + est.streams.sub!.bytes);
  expect(est.qualities["sub-then-main"]!.text).toMatch(/^≈ \d+ (kB|MB)/);
  expect((await c.api("POST", "/api/v1/retrievals", { cameraId: cam, from, to, quality: "keyframes" })).status).toBe(400);
  const r = await c.api<{ id: string; quality: string; stream: string }>("POST", "/api/v1/retrievals", { cameraId: cam, from, to, quality: "sub-then-main" });
  expect(r.status).toBe(201);
  expect(r.body).toMatchObject({ quality: "sub-then-main", stream: "main" });

  // Watch central's holdings of both streams: when did each segment first appear?
  const inWindow = (s: { startMs: number; endMs: number }) => s.endMs > Date.parse(from) && s.startMs < Date.parse(to);
  const seen = { main: new Map<number, number>(), sub: new Map<number, number>() };
  let subCompleteWhileMainMissing = false;
  let bestEarly = null as string | null;
  const video = async (stream: string) => {
    const res = await fetch(`${c.apiUrl}/api/v1/cameras/${cam}/video.mp4?from=${from}&to=${to}&stream=${stream}`, { headers: { authorization: `Bearer ${c.token}` } });
    return { status: res.status, stream: res.headers.get("x-outpost-stream"), body: await res.arrayBuffer() };
  };
  await until("the retrieval is done", async () => {
    for (const stream of ["sub", "main"] as const) {
      const segs = (await c.api<{ segments: { startMs: number; endMs: number }[] }>("GET", `/api/v1/cameras/${cam}/segments?from=${from}&to=${to}&stream=${stream}`)).body.segments.filter(inWindow);
      for (const s of segs) if (!seen[stream].has(s.startMs)) seen[stream].set(s.startMs, Date.now());
    }
    const q = (await tl("main")).centralQuality;
    if (!subCompleteWhileMainMissing && seen.sub.size >= 3 && seen.main.size === 0 && q.some((x) => x.quality === "sub")) {
      subCompleteWhileMainMissing = true;
      bestEarly = (await video("best")).stream;
    }
    return (await c.api<{ state: string }>("GET", `/api/v1/retrievals/${r.body.id}`)).body.state === "done";
  }, 120_000, 100);
  console.log(`sub segments ${seen.sub.size}, main ${seen.main.size}; last sub seen +${Math.max(...seen.sub.values()) - t0} ms, first main +${Math.min(...seen.main.values()) - t0} ms`);
  expect(seen.sub.size).toBeGreaterThanOrEqual(3);
  expect(seen.main.size).toBeGreaterThanOrEqual(3);
  // Ordered by commit: every sub segment of the window was at central before the first main one.
  expect(Math.max(...seen.sub.values())).toBeLessThanOrEqual(Math.min(...seen.main.values()));
  expect(subCompleteWhileMainMissing).toBe(true);
  // Playback's "best" served the sub stream while the main was missing, the main once it is in.
  expect(bestEarly).toBe("sub");
  expect((await video("best")).stream).toBe("main");
  // At the end central holds main over the whole window.
  expect((await tl("main")).centralQuality.map((x) => x.quality)).toEqual(["main"]);

  // Both are playable: decoded by ffprobe.
  for (const stream of ["sub", "main"]) {
    const res = await video(stream);
    expect(res.status).toBe(200);
    const file = path.join(root, `window-${stream}.mp4`);
    await Bun.write(file, res.body);
    const p = await probeFrames(file);
    expect(p.codec).toBe("h264");
    expect(p.frames).toBeGreaterThan(30);
  }
  expect((await centralSegments(c, cam)).length).toBeGreaterThanOrEqual(3);
});
