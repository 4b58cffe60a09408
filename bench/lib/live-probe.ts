/**
 * Viewer side of bench/live.bench.ts, run as its own process so the bench can read central's
 * CPU apart from the viewers'. Owns only readers; must not touch the rig.
 *
 * `bun bench/lib/live-probe.ts probe '<json ProbeArgs>'`: per camera, a WebSocket fMP4 viewer,
 * a direct RTSP reader of the camera (the floor: our native RTSP client parts, RTP over TCP)
 * and optionally one LL-HLS client (blocking playlist reload + preload-hint part requests).
 * Prints one JSON line per event, all arrival times on the same clock (performance.timeOrigin +
 * performance.now(), ms since the epoch):
 *   {t:"au", cam, rtp, key, at}                 direct reader: RTP timestamp (90 kHz), keyframe, arrival of the AU's last packet
 *   {t:"ws"|"hls", cam, startMs, durMs, n, key, at} viewer: fragment/part decode start (ms), duration, samples, arrival
 * `bun bench/lib/live-probe.ts viewers '<json {urls, token}>'`: plain WebSocket viewers; prints
 * {t:"count", receiving, fragments} every second.
 */
import { TestViewer } from "../../central/live/viewer.ts";
import { parseFragment, parseInit, type InitInfo } from "../../lib/mp4/index.ts";
import { RtspConnection, type RtspResponse } from "../../edge/ingest/native/rtsp.ts";
import { parseRtp } from "../../edge/ingest/native/rtp.ts";
import { Authenticator, parseSdpMedia, parseSession, pickChallenge } from "../../lib/rtsp/index.ts";
import { parseRtspUrl } from "../../edge/ingest/probe.ts";

export interface ProbeArgs {
  ws: string;
  token: string;
  cams: { id: string; live: string; rtsp: string; user: string; password: string }[];
  /** Base URL of one camera's live.m3u8 (…/cameras/<id>/live.m3u8) and the camera id to tag with. */
  hls?: { cam: string; url: string };
}

const now = () => performance.timeOrigin + performance.now();
const out = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + "\n");

/** True when the H.264 RTP payload carries (the start of) an IDR slice. */
function idr(p: Uint8Array): boolean {
  const t = p[0]! & 0x1f;
  if (t === 5) return true;
  if (t === 28) return (p[1]! & 0x1f) === 5; // FU-A
  if (t === 24) {
    for (let o = 1; o + 2 < p.length; ) {
      const len = (p[o]! << 8) | p[o + 1]!;
      if ((p[o + 2]! & 0x1f) === 5) return true;
      o += 2 + len;
    }
  }
  return false;
}

/** Reads one camera's RTSP (video only, RTP over TCP); `onAu` gets every access unit as it completes. Resolves once playing. */
export async function rtspReader(cam: string, url: string, user: string, password: string, onAu: (a: { cam: string; rtp: number; key: boolean; at: number }) => void = (a) => void out({ t: "au", ...a })): Promise<RtspConnection> {
  const u = parseRtspUrl(url);
  const conn = await RtspConnection.open(u.host, u.port, 5000);
  const ok = (r: RtspResponse, what: string) => {
    if (r.status !== 200) throw new Error(`${cam} ${what}: ${r.status} ${r.statusText}`);
  };
  let res = await conn.request("DESCRIBE", u.cleanUrl, { Accept: "application/sdp" }, 5000);
  if (res.status === 401) {
    conn.auth = new Authenticator(pickChallenge(res.headers.all("www-authenticate")) ?? "", { user, password });
    res = await conn.request("DESCRIBE", u.cleanUrl, { Accept: "application/sdp" }, 5000);
  }
  ok(res, "DESCRIBE");
  const base = res.headers.get("content-base") ?? u.cleanUrl;
  const video = parseSdpMedia(res.body, base).find((m) => m.kind === "video");
  if (!video) throw new Error(`${cam}: no video track`);
  let ts = -1;
  let key = false;
  conn.onFrame = (ch, payload) => {
    if (ch !== 0) return;
    const p = parseRtp(payload);
    if (!p) return;
    if (p.timestamp !== ts) {
      ts = p.timestamp;
      key = false;
    }
    if (idr(p.payload)) key = true;
    // rtph264pay sets the marker on the last packet of an access unit.
    if (p.marker) onAu({ cam, rtp: p.timestamp, key, at: now() });
  };
  const s = await conn.request("SETUP", video.control, { Transport: "RTP/AVP/TCP;unicast;interleaved=0-1" }, 5000);
  ok(s, "SETUP");
  conn.session = parseSession(s.headers.get("session")!).id;
  ok(await conn.request("PLAY", base, { Range: "npt=0.000-" }, 5000), "PLAY");
  setInterval(() => conn.send("OPTIONS", base), 20_000);
  return conn;
}

function wsViewer(cam: string, url: string, token: string): TestViewer {
  const v = new TestViewer(url, token);
  let init: InitInfo | undefined;
  const onmsg = v.ws.onmessage!.bind(v.ws);
  v.ws.onmessage = (e) => {
    const at = now();
    const before = v.inits;
    onmsg(e);
    if (v.inits > before) init = parseInit(new Uint8Array(e.data as ArrayBuffer));
    else if (typeof e.data !== "string" && init) {
      const f = parseFragment(new Uint8Array(e.data as ArrayBuffer), init);
      const run = f.runs.find((r) => r.trackId === init!.video?.trackId);
      if (f.hasReferenceTrack) out({ t: "ws", cam, startMs: f.startMs, durMs: f.durationMs, n: run?.sampleCount ?? 0, key: f.keyframe, at });
    }
  };
  return v;
}

async function hlsClient(cam: string, url: string, token: string): Promise<void> {
  const h = { authorization: `Bearer ${token}` };
  const dir = url.replace(/live\.m3u8.*$/, "");
  const retry = async (u: string) => {
    for (;;) {
      const r = await fetch(u, { headers: h });
      if (r.ok) return r;
      await r.arrayBuffer();
      await Bun.sleep(200);
    }
  };
  let init: InitInfo | undefined;
  const seq = (u: string) => Number(/q(\d+)\.m4s/.exec(u)![1]);
  const record = (bytes: Uint8Array, at: number) => {
    const f = parseFragment(bytes, init!);
    const run = f.runs.find((r) => r.trackId === init!.video?.trackId);
    out({ t: "hls", cam, startMs: f.startMs, durMs: f.durationMs, n: run?.sampleCount ?? 0, key: f.keyframe, at });
  };
  let pl = await (await retry(url)).text();
  // Parts listed in the first playlist are history: start after the newest one.
  let last = Math.max(-1, ...[...pl.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => seq(m[1]!)));
  for (;;) {
    const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(pl)?.[1];
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(pl)?.[1];
    if (!hint || !map) throw new Error(`playlist without preload hint / map:\n${pl}`);
    if (!init) init = parseInit(new Uint8Array(await (await retry(dir + map)).arrayBuffer()));
    // Listed parts newer than the last one fetched exist already: fetch them as a player would.
    for (const m of pl.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)) {
      if (seq(m[1]!) <= last) continue;
      const r = await fetch(dir + m[1]!, { headers: h });
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (r.ok) record(bytes, now());
      last = seq(m[1]!);
    }
    const hm = nextPartAddress(pl);
    // The hinted part request blocks until it exists; the blocking playlist reload for it runs
    // alongside.
    const [part, next] = await Promise.all([
      fetch(dir + hint, { headers: h }).then(async (r) => ({ ok: r.ok, bytes: new Uint8Array(await r.arrayBuffer()), at: now() })),
      fetch(`${url}${url.includes("?") ? "&" : "?"}_HLS_msn=${hm.msn}&_HLS_part=${hm.part}`, { headers: h }).then(async (r) => (r.ok ? r.text() : (await r.arrayBuffer(), null))),
    ]);
    if (part.ok) {
      record(part.bytes, part.at);
      last = Math.max(last, seq(hint));
    }
    pl = next ?? (await (await retry(url)).text());
  }
}

/** `_HLS_msn`/`_HLS_part` of the part after the last listed one (RFC 8216bis 6.2.5.2): part URIs
 * carry no segment number, so count segments (EXTINF) and the parts after the last one. */
function nextPartAddress(pl: string): { msn: number; part: number } {
  let msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(pl)?.[1] ?? 0);
  let part = 0;
  for (const line of pl.split("\n")) {
    if (line.startsWith("#EXT-X-PART:")) part++;
    else if (line.startsWith("#EXTINF:")) {
      msn++;
      part = 0;
    }
  }
  return { msn, part };
}

if (import.meta.main) {
  const [mode, json] = process.argv.slice(2);
  if (mode === "probe") {
    const a = JSON.parse(json!) as ProbeArgs;
    for (const c of a.cams) {
      rtspReader(c.id, c.rtsp, c.user, c.password).catch((e) => out({ t: "error", cam: c.id, msg: (e as Error).message }));
      wsViewer(c.id, c.live, a.token);
    }
    if (a.hls) hlsClient(a.hls.cam, a.hls.url, a.token).catch((e) => out({ t: "error", cam: a.hls!.cam, msg: (e as Error).message }));
  } else if (mode === "viewers") {
    const a = JSON.parse(json!) as { urls: string[]; token: string };
    const vs = a.urls.map((u) => new TestViewer(u, a.token));
    setInterval(() => out({ t: "count", receiving: vs.filter((v) => v.fragments > 0).length, fragments: vs.reduce((s, v) => s + v.fragments, 0) }), 1000);
  } else {
    console.error("usage: live-probe.ts probe|viewers JSON");
    process.exit(2);
  }
}
