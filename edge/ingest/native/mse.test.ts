/**
 * What the native engine records from camsim (H.264 + AAC, and H.264 with B-frames + G.711
 * stored as FLAC, over real RTSP) is accepted by
 * headless Chromium's MediaSource with the MIME type parseInit derives, and plays: the buffered
 * range covers the fragments and currentTime advances.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chromium, type Browser } from "playwright-core";
import { startCamsim, type Camsim } from "../../../camsim/index.ts";
import { systemClock } from "../../../lib/clock.ts";
import { Logger, MemorySink } from "../../../lib/log/index.ts";
import { concat, type InitInfo } from "../../../lib/mp4/index.ts";
import { NativeSession } from "./session.ts";

let sim: Camsim;
let browser: Browser | undefined;
const log = new Logger({ component: "test", sink: new MemorySink(), level: "debug" });

beforeAll(async () => {
  sim = await startCamsim({
    cameras: 1,
    main: { width: 640, height: 360, fps: 15, bitrateKbps: 500 },
    sub: { width: 320, height: 180, fps: 10, bitrateKbps: 150 },
    audio: true,
    discoveryPort: null,
    log,
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await sim?.close();
});

test("Chromium MSE accepts and plays native-engine fMP4 (avc1 + mp4a in one moof)", async () => {
  const r = await recordAndPlay(sim);
  expect(r.mime).toMatch(/^video\/mp4; codecs="avc1\.[0-9a-f]{6},mp4a\.40\.2"$/);
  expect(r.result.supported).toBe(true);
  expect(r.result.error).toBe("");
  expect(r.result.end).toBeGreaterThan(3);
  expect(r.result.played).toBeGreaterThan(0.5);
}, 45_000);

test("G.711 recorded as FLAC, with B-frames: Chromium MSE accepts and plays it (it refuses ulaw/alaw)", async () => {
  const g711 = await startCamsim({ cameras: 1, main: { width: 320, height: 180, fps: 15, bitrateKbps: 200 }, audio: true, audioCodec: "pcmu", bframes: 2, discoveryPort: null, log });
  try {
    const r = await recordAndPlay(g711);
    expect(r.mime).toMatch(/^video\/mp4; codecs="avc1\.[0-9a-f]{6},flac"$/);
    expect(r.result.supported).toBe(true);
    expect(r.result.error).toBe("");
    expect(r.result.end).toBeGreaterThan(3);
    expect(r.result.played).toBeGreaterThan(0.5);
  } finally {
    await g711.close();
  }
}, 45_000);

async function recordAndPlay(sim: Camsim) {
  const c = sim.camera("cam1");
  let init: { bytes: Uint8Array; info: InitInfo } | undefined;
  const frags: Uint8Array[] = [];
  const s = new NativeSession({
    url: c.rtspMain,
    user: sim.user,
    password: sim.password,
    connectTimeoutMs: 5000,
    latencyMs: 0,
    clock: systemClock,
    log,
    handlers: {
      activity() {},
      described() {},
      init(bytes, info) {
        init ??= { bytes, info };
      },
      async fragment(bytes) {
        frags.push(bytes.slice()); // a pooled buffer, reused once this settles
      },
    },
  });
  const deadline = Date.now() + 15_000;
  while (frags.length < 8 && Date.now() < deadline) await Bun.sleep(100);
  s.kill();
  await s.done;
  const media = concat([init!.bytes, ...frags]);

  browser ??= await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
  });
  const page = await browser.newPage();
  const result = await page.evaluate(
    async ({ mime, b64 }) => {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      if (!MediaSource.isTypeSupported(mime)) return { supported: false, error: "", end: 0, played: 0 };
      const video = document.createElement("video");
      video.muted = true;
      document.body.appendChild(video);
      const ms = new MediaSource();
      video.src = URL.createObjectURL(ms);
      await new Promise((r) => ms.addEventListener("sourceopen", r, { once: true }));
      const sb = ms.addSourceBuffer(mime);
      let error = "";
      video.addEventListener("error", () => (error = video.error?.message ?? "media error"));
      sb.appendBuffer(bytes);
      await new Promise((r) => sb.addEventListener("updateend", r, { once: true }));
      const end = sb.buffered.length ? sb.buffered.end(0) : 0;
      await video.play().catch((e: Error) => (error ||= e.message));
      await new Promise((r) => setTimeout(r, 1500));
      return { supported: true, error, end, played: video.currentTime };
    },
    { mime: init!.info.mime, b64: Buffer.from(media).toString("base64") },
  );
  await page.close();
  return { mime: init!.info.mime, result };
}
