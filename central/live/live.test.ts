import "reflect-metadata";
/**
 * System test of live through central: camsim → real edge (enrolled) → cuttable proxy →
 * central (mTLS federation listener) → WebSocket/LL-HLS viewers and headless Chromium (MSE).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chromium, type Browser } from "playwright-core";
import { startLiveRig, untilRecording, EDGE_PASSWORD, type LiveRig } from "./testkit.ts";
import { TestViewer } from "./viewer.ts";

let rig: LiveRig;
let site: string;
let wsBase: string;
const viewers: TestViewer[] = [];
const children: ReturnType<typeof Bun.spawn>[] = [];
let browser: Browser | undefined;

/** Parts (with their segment's msn and index), the next part's _HLS_msn/_HLS_part and the hint. */
const parsePlaylist = (pl: string) => {
  let msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(pl)![1]);
  let index = 0;
  const parts: { uri: string; msn: number; index: number; independent: boolean }[] = [];
  for (const line of pl.split("\n")) {
    const m = /^#EXT-X-PART:.*URI="([^"]+)"/.exec(line);
    if (m) parts.push({ uri: m[1]!, msn, index: index++, independent: line.includes("INDEPENDENT=YES") });
    else if (line.startsWith("#EXTINF:")) {
      msn++;
      index = 0;
    }
  }
  const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(pl)![1]!;
  return { parts, openMsn: msn, openParts: index, hint };
};
const until = async (what: string, cond: () => boolean, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
};
const view = (cam: string, q = "", token: string | null = rig.token) => {
  const v = new TestViewer(`${wsBase}/api/v1/cameras/${site}.${cam}/live${q}`, token ?? undefined);
  viewers.push(v);
  return v;
};

/** Each lookup of a camera by the live routes (each reads the site's camera list), by camera. */
const cameraLookups: string[] = [];
const countedCameraExists = (_siteId: string, cameraId: string) => {
  cameraLookups.push(cameraId);
  return rig.sim.cameras.some((c) => c.id === cameraId);
};

beforeAll(async () => {
  // main at 2 Mbit/s so a stopped reader fills the loopback socket buffers within seconds.
  rig = await startLiveRig({ cameras: 2, pattern: "snow", main: { width: 640, height: 360, bitrateKbps: 2000 }, live: { hub: { maxViewerBufferBytes: 64 * 1024 }, cameraExists: countedCameraExists } });
  site = rig.identity.siteId;
  wsBase = rig.central.apiUrl.replace(/^http/, "ws");
  await untilRecording(rig.edge);
}, 60_000);

afterAll(async () => {
  for (const v of viewers) v.close();
  for (const c of children) c.kill("SIGKILL");
  await browser?.close();
  await rig?.close();
}, 30_000);

describe("live through central", () => {
  test("unauthenticated or bad-token viewers are refused and no uplink starts", async () => {
    const anon = view("cam1", "", null);
    const bad = view("cam1", "", "made-up-token");
    await until("refusals", () => !!anon.closed && !!bad.closed);
    expect(anon.opened || bad.opened).toBe(false);
    const hls = await fetch(`${rig.central.apiUrl}/api/v1/cameras/${site}.cam1/live.m3u8`);
    expect(hls.status).toBe(401);
    expect(hls.headers.get("content-type")).toContain("problem+json");
    const plain = await fetch(`${rig.central.apiUrl}/api/v1/cameras/${site}.cam1/live`, { headers: { authorization: `Bearer ${rig.token}` } });
    expect(plain.status).toBe(400); // not a WebSocket upgrade
    const unknown = await fetch(`${rig.central.apiUrl}/api/v1/cameras/nosuchsite.cam1/live.m3u8`, { headers: { authorization: `Bearer ${rig.token}` } });
    expect(unknown.status).toBe(404);
    await Bun.sleep(500);
    expect(rig.requests.length).toBe(0);
    expect(rig.edge.live.uplinks().length).toBe(0);
    expect(rig.proxy.accepted).toBe(0);
  }, 20_000);

  test("20 viewers of one camera: exactly one uplink, all receive fragments", async () => {
    const vs = Array.from({ length: 20 }, () => view("cam1"));
    await until("20 viewers with ≥ 4 fragments", () => vs.every((v) => v.fragments >= 4), 20_000);
    for (const v of vs) {
      expect(v.header?.mime).toContain("avc1");
      expect([v.header?.width, v.header?.height]).toEqual([320, 180]); // cellular default: sub
      expect(v.inits).toBe(1);
    }
    const up = rig.edge.live.uplinks().filter((u) => u.cameraId === "cam1");
    expect(up.length).toBe(1);
    expect(up[0]!.stream).toBe("sub");
    expect(up[0]!.connects).toBe(1);
    expect(rig.proxy.accepted).toBe(1);
    const st = rig.live.stats().find((s) => s.cameraId === "cam1" && s.stream === "sub")!;
    expect(st.uplinksAccepted).toBe(1);
    expect(st.viewers).toBe(20);
    // Bytes: the edge sent ≈ what central received once, not 20 times.
    expect(Math.abs(up[0]!.bytesSent - st.bytesIn)).toBeLessThan(up[0]!.bytesSent * 0.1 + 20_000);
    expect(rig.live.liveBytes(site)).toBeGreaterThan(0);
    console.log(`20 viewers: uplink bytes ${up[0]!.bytesSent}, central in ${st.bytesIn}, per-viewer received ${Math.round(vs.reduce((a, v) => a + v.bytes, 0) / 20)}`);
    for (const v of vs) v.close();
  }, 40_000);

  test("a WebSocket viewer's camera is looked up once (the upgrade check's lookup serves the socket)", async () => {
    cameraLookups.length = 0;
    const v = view("cam2");
    await until("the viewer's first fragment", () => v.fragments >= 1);
    expect(cameraLookups).toEqual(["cam2"]);
    v.close();
  }, 20_000);

  test("a viewer that stops reading is cut forward; the others continue", async () => {
    // main stream (≈600 kbit/s); a child process viewer is SIGSTOPped so it reads nothing.
    const child = Bun.spawn(["bun", "central/live/viewer.ts", `${wsBase}/api/v1/cameras/${site}.cam2/live?stream=main`, rig.token], { stdout: "ignore", stderr: "ignore" });
    children.push(child);
    const good = view("cam2", "?stream=main");
    const hub = rig.live.hub(site, "cam2", "main");
    await until("2 viewers on cam2 main", () => hub.viewerCount === 2 && good.fragments > 2, 20_000);
    child.kill("SIGSTOP");
    const before = good.fragments;
    await until("the stopped viewer is cut", () => hub.viewerStats().some((s) => s.cuts > 0), 45_000);
    const at = good.fragments;
    await Bun.sleep(2000);
    expect(good.fragments).toBeGreaterThan(at + 2);
    expect(good.fragments).toBeGreaterThan(before);
    expect(good.texts.some((t) => t.type === "cut")).toBe(false);
    const stats = hub.viewerStats();
    console.log("slow-viewer stats", JSON.stringify(stats));
    expect(stats.filter((s) => s.cuts > 0).length).toBe(1);
    child.kill("SIGKILL");
    good.close();
  }, 70_000);

  test("link drop edge↔central: viewers resume by themselves; the live recording has a gap with a reason", async () => {
    const stopRec = rig.recorder.recordLive(`${site}.cam1`, "sub");
    const v = view("cam1");
    await until("viewer playing", () => v.fragments > 4, 20_000);
    await Bun.sleep(3000);
    const connectsBefore = rig.edge.live.uplinks().find((u) => u.cameraId === "cam1" && u.stream === "sub")!.connects;
    rig.proxy.cut();
    const cutAt = Date.now();
    await Bun.sleep(7000);
    const during = v.fragments;
    rig.proxy.restore();
    await until("viewer resumes", () => v.fragments > during + 3, 20_000);
    console.log(`link drop: resumed ${Date.now() - cutAt - 7000} ms after the link came back`);
    expect(v.closed).toBeUndefined();
    const up = rig.edge.live.uplinks().find((u) => u.cameraId === "cam1" && u.stream === "sub")!;
    expect(up.connects).toBeGreaterThan(connectsBefore);
    const st = rig.live.stats().find((s) => s.cameraId === "cam1" && s.stream === "sub")!;
    expect(st.uplinkActive).toBe(true);
    await Bun.sleep(3000);
    await stopRec();
    const tl = await rig.centralStore.timeline({ cameraId: `${site}.cam1`, stream: "sub", fromMs: cutAt - 60_000, toMs: Date.now() });
    console.log("central live recording:", JSON.stringify({ ranges: tl.ranges, gaps: tl.gaps }));
    const gap = tl.gaps.find((g) => g.startMs >= cutAt - 3000 && g.startMs <= cutAt + 8000);
    expect(gap).toBeDefined();
    expect(gap!.reason).toBe("stall");
    expect(gap!.detail ?? "").toContain("lost");
    expect(tl.ranges.some((r) => r.startMs > cutAt + 5000)).toBe(true);
    v.close();
  }, 60_000);

  test("no viewer left: central stops the uplink after the grace period", async () => {
    for (const v of viewers) v.close();
    await until("uplinks stopped", () => rig.edge.live.uplinks().every((u) => !u.active), 20_000).catch((e) => {
      console.log(JSON.stringify({ central: rig.live.stats(), edge: rig.edge.live.uplinks() }));
      throw e;
    });
    expect(rig.live.stats().every((s) => !s.uplinkActive)).toBe(true);
  }, 30_000);

  test("LL-HLS: playlist with parts ≤ 500 ms, blocking reload, preload hint, playable parts", async () => {
    const h = { authorization: `Bearer ${rig.token}` };
    const base = `${rig.central.apiUrl}/api/v1/cameras/${site}.cam2`;
    const r = await fetch(`${base}/live.m3u8`, { headers: h });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    const pl = await r.text();
    expect(pl).toContain("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
    expect(pl).toContain("#EXT-X-PRELOAD-HINT:TYPE=PART");
    const target = Number(/PART-TARGET=([\d.]+)/.exec(pl)![1]);
    expect(target).toBeLessThanOrEqual(0.5);
    for (const m of pl.matchAll(/#EXT-X-PART:DURATION=([\d.]+)/g)) expect(Number(m[1])).toBeLessThanOrEqual(target);
    // Blocking reload for the part after the last listed one, alongside a request for the hinted
    // part (blocks until it exists), as a player does; repeat until a new segment has started.
    // Every hint must come back listed in the next playlist, also when its part opened a new
    // segment (the old <msn>.<part> naming hinted a URI that never existed there).
    const t0 = Date.now();
    let cur = parsePlaylist(pl);
    let boundary: { hint: string; bytes: Uint8Array<ArrayBuffer> } | undefined;
    for (let i = 0; i < 40 && !boundary; i++) {
      const [part, next] = await Promise.all([fetch(`${base}/${cur.hint}`, { headers: h }), fetch(`${base}/live.m3u8?_HLS_msn=${cur.openMsn}&_HLS_part=${cur.openParts}`, { headers: h })]);
      expect(part.status).toBe(200);
      expect(next.status).toBe(200);
      const bytes = new Uint8Array(await part.arrayBuffer());
      const later = parsePlaylist(await next.text());
      const listed = later.parts.find((p) => p.uri === cur.hint);
      expect(listed).toBeDefined();
      expect([cur.openMsn, cur.openMsn + 1]).toContain(listed!.msn);
      if (listed!.msn === cur.openMsn + 1) {
        // The segment was still open when hinted, and the hinted part opened the next one: it is
        // that segment's first, independent part.
        expect(listed!.index).toBe(0);
        expect(listed!.independent).toBe(true);
        boundary = { hint: cur.hint, bytes };
      }
      cur = later;
    }
    expect(boundary).toBeDefined();
    console.log(`hint ${boundary!.hint} listed as first part of a new segment after ${Date.now() - t0} ms`);
    const bad = await fetch(`${base}/live.m3u8?_HLS_msn=abc`, { headers: h });
    expect(bad.status).toBe(400);
    const ahead = await fetch(`${base}/live/q${Number(/q(\d+)/.exec(cur.hint)![1]) + 5}.m4s`, { headers: h });
    expect(ahead.status).toBe(404);
    // init + the keyframe part that opened the segment play in ffprobe (decodable H.264).
    const init = new Uint8Array(await (await fetch(`${base}/live/init.mp4`, { headers: h })).arrayBuffer());
    const seg = boundary!.bytes;
    const file = `${rig.root}/hls.mp4`;
    await Bun.write(file, new Blob([init, seg]));
    const p = Bun.spawn(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,width,nb_read_frames", "-of", "csv=p=0", file], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    expect(out).toMatch(/h264,320,[1-9]/);
  }, 30_000);

  test("edge local live endpoint: WebSocket with the edge session; refused without", async () => {
    const edgeUrl = rig.edge.url!;
    const login = await fetch(`${edgeUrl}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: EDGE_PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    const v = new TestViewer(`${edgeUrl.replace(/^http/, "ws")}/api/v1/cameras/cam1/live?stream=main`, token);
    viewers.push(v);
    const anon = new TestViewer(`${edgeUrl.replace(/^http/, "ws")}/api/v1/cameras/cam1/live`);
    viewers.push(anon);
    await until("edge viewer gets fragments", () => v.fragments >= 2 && !!anon.closed, 15_000);
    expect([v.header?.width, v.header?.height]).toEqual([640, 360]);
    expect(anon.opened).toBe(false);
    const m3u8 = await fetch(`${edgeUrl}/api/v1/cameras/cam1/live.m3u8?stream=sub`, { headers: { authorization: `Bearer ${token}` } });
    expect(m3u8.status).toBe(200);
    expect(await m3u8.text()).toContain("stream=sub");
    v.close();
  }, 30_000);

  test("headless Chromium plays two cameras at once through central (MSE)", async () => {
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
    });
    const page = await browser.newPage();
    await page.goto(`${rig.central.apiUrl}/api/v1/openapi.json`);
    const ids = [`${site}.cam1`, `${site}.cam2`];
    await page.evaluate(
      async ({ ids, password }) => {
        await fetch("/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password }) });
        document.body.innerHTML = "";
        const w = window as unknown as { players: Record<string, HTMLVideoElement> };
        w.players = {};
        for (const id of ids) {
          const video = document.createElement("video");
          video.muted = true;
          document.body.appendChild(video);
          w.players[id] = video;
          const ms = new MediaSource();
          video.src = URL.createObjectURL(ms);
          await new Promise((r) => ms.addEventListener("sourceopen", r, { once: true }));
          const ws = new WebSocket(`ws://${location.host}/api/v1/cameras/${id}/live`);
          ws.binaryType = "arraybuffer";
          let sb: SourceBuffer | undefined;
          const q: ArrayBuffer[] = [];
          const pump = () => {
            if (sb && !sb.updating && q.length) sb.appendBuffer(q.shift()!);
          };
          ws.onmessage = (e) => {
            if (typeof e.data === "string") {
              const m = JSON.parse(e.data);
              if (m.type === "stream" && !sb) {
                sb = ms.addSourceBuffer(m.mime);
                sb.addEventListener("updateend", () => {
                  const b = video.buffered;
                  if (b.length && video.currentTime < b.start(0)) video.currentTime = b.start(0);
                  pump();
                });
              }
              if (m.type === "cut") video.currentTime = m.resumeAtMs / 1000;
              return;
            }
            q.push(e.data);
            pump();
          };
          void video.play().catch(() => undefined);
        }
      },
      { ids, password: rig.central.initialAdminPassword },
    );
    const read = () =>
      page.evaluate(() => {
        const w = window as unknown as { players: Record<string, HTMLVideoElement> };
        return Object.fromEntries(Object.entries(w.players).map(([k, v]) => [k, { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, err: v.error?.message ?? null }]));
      });
    let first = await read();
    const deadline = Date.now() + 20_000;
    while (Object.values(first).some((p) => p.t <= 0.2) && Date.now() < deadline) {
      await Bun.sleep(300);
      first = await read();
    }
    await Bun.sleep(3000);
    const second = await read();
    console.log("chromium:", JSON.stringify({ first, second }));
    for (const id of ids) {
      expect(second[id]!.err).toBeNull();
      expect(second[id]!.t).toBeGreaterThan(first[id]!.t + 1.5);
      expect([second[id]!.w, second[id]!.h]).toEqual([320, 180]);
    }
    const up = rig.live.stats().filter((s) => s.uplinkActive && s.stream === "sub");
    expect(up.map((s) => s.cameraId).sort()).toEqual(["cam1", "cam2"]);
  }, 60_000);
});
