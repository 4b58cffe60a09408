/**
 * Native engine pieces on real encoder output (x264/x265 from GStreamer, no media mocks):
 * elementary streams are packetized into RTP here (single NAL, STAP-A/AP, FU-A/FU), then
 * depacketized, fragmented and muxed; ffprobe/ffmpeg must decode the result and lib/mp4 must
 * read it as the muxer describes it. Covers 32-bit timestamp wrap, timestamp jumps and an
 * in-band SPS change.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { concat, parseFragment, parseInit, scanSegment, type FragmentInfo, type InitInfo } from "../../../lib/mp4/index.ts";
import { aacConfig, h264SpsSize, base64Bytes } from "./codec.ts";
import { Fragmenter, type SessionChange } from "./fragmenter.ts";
import { AacDepacketizer, VideoDepacketizer, parseRtp } from "./rtp.ts";
import { rtpPacket } from "./rtp-testkit.ts";
import { parseSdpMedia } from "../../../lib/rtsp/index.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-native-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Annex-B elementary stream from GStreamer. */
async function encode(codec: "h264" | "h265", w: number, h: number, frames: number): Promise<Uint8Array> {
  const out = join(dir, `${codec}-${w}x${h}.es`);
  const enc = codec === "h264" ? ["x264enc", "key-int-max=15", "tune=zerolatency", "speed-preset=ultrafast", "!", "h264parse", "!", "video/x-h264,stream-format=byte-stream"] : ["x265enc", "key-int-max=15", "tune=zerolatency", "speed-preset=ultrafast", "!", "h265parse", "!", "video/x-h265,stream-format=byte-stream"];
  const p = Bun.spawn(["gst-launch-1.0", "-q", "videotestsrc", `num-buffers=${frames}`, "!", `video/x-raw,width=${w},height=${h},framerate=15/1`, "!", ...enc, "!", "filesink", `location=${out}`], { stdout: "ignore", stderr: "pipe" });
  expect(await p.exited).toBe(0);
  return new Uint8Array(await Bun.file(out).arrayBuffer());
}

/** Annex-B → access units (grouped at AUD / first slice), each a list of NAL units. */
function accessUnits(es: Uint8Array, codec: "h264" | "h265"): Uint8Array[][] {
  const nals: Uint8Array[] = [];
  let start = -1;
  for (let i = 0; i + 3 <= es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) {
      if (start >= 0) nals.push(es.subarray(start, es[i - 1] === 0 ? i - 1 : i));
      start = i + 3;
      i += 2;
    }
  }
  if (start >= 0) nals.push(es.subarray(start));
  const aus: Uint8Array[][] = [];
  let cur: Uint8Array[] = [];
  let hasSlice = false;
  for (const n of nals) {
    const t = codec === "h264" ? n[0]! & 0x1f : (n[0]! >> 1) & 0x3f;
    const isSlice = codec === "h264" ? t >= 1 && t <= 5 : t < 32;
    const firstSlice = isSlice && (codec === "h264" ? (n[1]! & 0x80) !== 0 : (n[2]! & 0x80) !== 0);
    const startsAu = (codec === "h264" ? t === 9 || t === 7 : t === 35 || t === 32) || firstSlice;
    if (startsAu && hasSlice) {
      aus.push(cur);
      cur = [];
      hasSlice = false;
    }
    cur.push(n);
    hasSlice ||= isSlice;
  }
  if (cur.length) aus.push(cur);
  return aus;
}

let seq = 0;
function rtp(ts: number, marker: boolean, payload: Uint8Array, ssrc = 0x1234): Uint8Array {
  const b = rtpPacket(seq, ts, marker, payload, ssrc);
  seq = (seq + 1) & 0xffff;
  return b;
}

/** RFC 6184/7798 packetization: parameter sets aggregated (STAP-A/AP), big NALs fragmented. */
function packetize(au: Uint8Array[], ts: number, codec: "h264" | "h265", mtu = 1200): Uint8Array[] {
  const out: Uint8Array[] = [];
  const isParam = (n: Uint8Array) => (codec === "h264" ? [7, 8].includes(n[0]! & 0x1f) : [32, 33, 34].includes((n[0]! >> 1) & 0x3f));
  const params = au.filter(isParam);
  const rest = au.filter((n) => !isParam(n));
  if (params.length) {
    const hdr = codec === "h264" ? [0x18] : [48 << 1, 1];
    out.push(concat([new Uint8Array(hdr), ...params.flatMap((p) => [new Uint8Array([p.length >> 8, p.length & 0xff]), p])]));
  }
  for (const n of rest) {
    if (n.length <= mtu) {
      out.push(n);
      continue;
    }
    const hl = codec === "h264" ? 1 : 2;
    const body = n.subarray(hl);
    for (let o = 0; o < body.length; o += mtu) {
      const s = o === 0 ? 0x80 : 0;
      const e = o + mtu >= body.length ? 0x40 : 0;
      const hdr = codec === "h264" ? [(n[0]! & 0xe0) | 28, s | e | (n[0]! & 0x1f)] : [(n[0]! & 0x81) | (49 << 1), n[1]!, s | e | ((n[0]! >> 1) & 0x3f)];
      out.push(concat([new Uint8Array(hdr), body.subarray(o, o + mtu)]));
    }
  }
  return out.map((p, i) => rtp(ts, i === out.length - 1, p));
}

interface Collected {
  inits: { bytes: Uint8Array; info: InitInfo; change?: SessionChange }[];
  frags: { bytes: Uint8Array; info: FragmentInfo; session: number }[];
}

function pipeline(codec: "h264" | "h265"): { depay: VideoDepacketizer; frag: Fragmenter; got: Collected } {
  const got: Collected = { inits: [], frags: [] };
  let now = 0;
  const frag = new Fragmenter({
    codec,
    now: () => now,
    onInit: (bytes, info, change) => got.inits.push({ bytes, info, ...(change ? { change } : {}) }),
    onFragment: (bytes, info) => got.frags.push({ bytes, info, session: got.inits.length }),
    releaseNal: (nal) => depay.release(nal),
  });
  const depay = new VideoDepacketizer(codec);
  depay.onAccessUnit = (au) => {
    now += 66;
    frag.video(au);
  };
  return { depay, frag, got };
}

function feed(depay: VideoDepacketizer, aus: Uint8Array[][], codec: "h264" | "h265", ts0: number, step = 6000): number {
  let ts = ts0;
  for (const au of aus) {
    for (const p of packetize(au, ts, codec)) depay.push(parseRtp(p)!);
    ts = (ts + step) >>> 0;
  }
  return ts;
}

async function decode(bytes: Uint8Array): Promise<{ frames: number; err: string }> {
  const f = join(dir, `${crypto.randomUUID()}.mp4`);
  await writeFile(f, bytes);
  const p = Bun.spawn(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", f], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
  const d = Bun.spawn(["ffmpeg", "-v", "error", "-nostdin", "-i", f, "-f", "null", "-"], { stdout: "ignore", stderr: "pipe" });
  const derr = await new Response(d.stderr).text();
  await Promise.all([p.exited, d.exited]);
  return { frames: Number(out.trim()), err: (err + derr).trim() };
}

function sessionFile(got: Collected, session: number): Uint8Array {
  return concat([got.inits[session - 1]!.bytes, ...got.frags.filter((f) => f.session === session).map((f) => f.bytes)]);
}

describe("native engine: RTP → fMP4 on real encoder output", () => {
  for (const codec of ["h264", "h265"] as const) {
    test(`${codec}: FU/aggregation packets, timestamps across the 32-bit wrap → decodable fMP4 that lib/mp4 reads as muxed`, async () => {
      const aus = accessUnits(await encode(codec, 320, 240, 45), codec);
      expect(aus.length).toBe(45);
      const { depay, frag, got } = pipeline(codec);
      feed(depay, aus, codec, 0xffffffff - 6000 * 20); // wraps after 20 frames
      frag.flushAll();
      expect(got.inits.length).toBe(1);
      const init = parseInit(got.inits[0]!.bytes);
      expect(init.video?.width).toBe(320);
      expect(init.video?.height).toBe(240);
      expect(init.video?.codec).toMatch(codec === "h264" ? /^avc1\.[0-9a-f]{6}$/ : /^hvc1\.\d+\.[0-9a-f]+\.[LH]\d+$/);
      // Muxer's own FragmentInfo == what parseFragment reads back; contiguous; keyframe flags right.
      let t = 0;
      for (const f of got.frags) {
        expect(parseFragment(f.bytes, init)).toEqual(f.info);
        expect(Math.abs(f.info.startMs - t)).toBeLessThan(0.01);
        t = f.info.startMs + f.info.durationMs;
        expect(f.info.durationMs).toBeLessThanOrEqual(1000);
      }
      expect(got.frags.filter((f) => f.info.keyframe).map((f) => Math.round(f.info.startMs))).toEqual([0, 1000, 2000]);
      expect(Math.round(t)).toBe(3000);
      const file = sessionFile(got, 1);
      expect(scanSegment(file).fragments.length).toBe(got.frags.length);
      expect(await decode(file)).toEqual({ frames: 45, err: "" });
    }, 30_000);
  }

  test("a session's first fragment is its keyframe alone, written as soon as that frame is complete (restart → recording at once)", async () => {
    const aus = accessUnits(await encode("h264", 320, 240, 20), "h264");
    const { depay, frag, got } = pipeline("h264");
    feed(depay, aus.slice(0, 2), "h264", 1000); // the keyframe, and the frame that gives its duration
    expect(got.frags.length).toBe(1);
    const first = got.frags[0]!;
    expect(first.info.keyframe).toBe(true);
    expect(first.info.runs[0]!.sampleCount).toBe(1);
    expect(Math.round(first.info.durationMs)).toBe(67);
    // From then on fragments are cut as before (≤ 500 ms), and the session decodes whole.
    feed(depay, aus.slice(2), "h264", 1000 + 2 * 6000);
    frag.flushAll();
    for (const f of got.frags.slice(1)) expect(f.info.durationMs).toBeLessThanOrEqual(500.01);
    expect(got.frags.length).toBeGreaterThan(2);
    expect(await decode(sessionFile(got, 1))).toEqual({ frames: 20, err: "" });
  }, 30_000);

  test("timestamp jump (camera restart) → new session from the next keyframe, each session decodes on its own", async () => {
    const aus = accessUnits(await encode("h264", 320, 240, 45), "h264");
    const { depay, frag, got } = pipeline("h264");
    feed(depay, aus.slice(0, 20), "h264", 1000);
    feed(depay, aus.slice(20), "h264", 3_000_000_000); // jumps ~33000 s
    frag.flushAll();
    expect(got.inits.length).toBe(2);
    expect(got.inits[1]!.change?.reason).toBe("restart");
    expect(got.inits[1]!.change?.detail).toContain("jumped");
    // Second session starts at 0 with a keyframe (frames 20..29 waited for the IDR at 30).
    const second = got.frags.filter((f) => f.session === 2);
    expect(second[0]!.info.startMs).toBe(0);
    expect(second[0]!.info.keyframe).toBe(true);
    expect(await decode(sessionFile(got, 1))).toEqual({ frames: 20, err: "" });
    expect(await decode(sessionFile(got, 2))).toEqual({ frames: 15, err: "" });
  }, 30_000);

  test("in-band SPS change (resolution) → new init with the new size, marked as a new session", async () => {
    const a = accessUnits(await encode("h264", 320, 240, 30), "h264");
    const b = accessUnits(await encode("h264", 240, 160, 30), "h264");
    const { depay, frag, got } = pipeline("h264");
    const ts = feed(depay, a, "h264", 5);
    feed(depay, b, "h264", ts);
    frag.flushAll();
    expect(got.inits.map((i) => [i.info.video?.width, i.info.video?.height])).toEqual([[320, 240], [240, 160]]);
    expect(got.inits[1]!.change?.reason).toBe("restart");
    expect(await decode(sessionFile(got, 1))).toEqual({ frames: 30, err: "" });
    expect(await decode(sessionFile(got, 2))).toEqual({ frames: 30, err: "" });
  }, 30_000);
});

/**
 * Real RTP from GStreamer's payloaders (rtpstreampay framing: 2-byte length + packet), with
 * B-frames: the presentation times arrive out of order, exactly as a camera sends them.
 */
async function gstRtp(codec: "h264" | "h265", frames: number, bframes: boolean): Promise<Uint8Array[]> {
  const out = join(dir, `${codec}-${bframes ? "b" : "p"}-${frames}.rtp`);
  const enc =
    codec === "h264"
      ? ["x264enc", "key-int-max=15", "speed-preset=superfast", `bframes=${bframes ? 2 : 0}`, "!", "video/x-h264,profile=main", "!", "rtph264pay", "config-interval=-1"]
      : ["x265enc", "key-int-max=15", "speed-preset=superfast", ...(bframes ? [] : ["tune=zerolatency"]), "!", "rtph265pay", "config-interval=-1"];
  const p = Bun.spawn(["gst-launch-1.0", "-q", "videotestsrc", `num-buffers=${frames}`, "!", "video/x-raw,width=320,height=240,framerate=15/1,format=I420", "!", ...enc, "!", "rtpstreampay", "!", "filesink", `location=${out}`], { stdout: "ignore", stderr: "pipe" });
  expect(await p.exited).toBe(0);
  const d = new Uint8Array(await Bun.file(out).arrayBuffer());
  const pkts: Uint8Array[] = [];
  for (let o = 0; o + 2 <= d.length; ) {
    const n = (d[o]! << 8) | d[o + 1]!;
    pkts.push(d.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return pkts;
}

/** Feeds packets with their RTP timestamp mapped by `ts` (index of the access unit, original ts). */
function feedRtp(depay: VideoDepacketizer, pkts: Uint8Array[], ts: (au: number, t: number) => number = (_a, t) => t): void {
  let au = 0;
  for (const b of pkts) {
    const p = parseRtp(b)!;
    depay.push({ ...p, timestamp: ts(au, p.timestamp) >>> 0 });
    if (p.marker) au++;
  }
}

/** ffmpeg must demux, remux and decode without a word on stderr; returns the video pts in ticks. */
async function strictDecode(bytes: Uint8Array): Promise<{ frames: number; err: string; pts: number[]; dts: number[] }> {
  const f = join(dir, `${crypto.randomUUID()}.mp4`);
  await writeFile(f, bytes);
  const remux = Bun.spawn(["ffmpeg", "-v", "error", "-nostdin", "-i", f, "-c", "copy", "-f", "mp4", "-y", `${f}.copy.mp4`], { stdout: "ignore", stderr: "pipe" });
  const rerr = await new Response(remux.stderr).text();
  await remux.exited;
  const pp = Bun.spawn(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts,dts", "-of", "csv=p=0", f], { stdout: "pipe", stderr: "pipe" });
  const rows = (await new Response(pp.stdout).text()).trim().split("\n").map((l) => l.split(",").map(Number));
  await pp.exited;
  const r = await decode(bytes);
  return { frames: r.frames, err: (r.err + rerr).trim(), pts: rows.map((x) => x[0]!).sort((a, b) => a - b), dts: rows.map((x) => x[1]!) };
}

describe("native engine: B-frames and camera timestamp faults", () => {
  for (const codec of ["h264", "h265"] as const) {
    test(`${codec} with B-frames: dts from the SPS reorder depth; decodes and remuxes without a warning; pts as sent`, async () => {
      const pkts = await gstRtp(codec, 45, true);
      const { depay, frag, got } = pipeline(codec);
      feedRtp(depay, pkts);
      frag.flushAll();
      expect(got.inits.length).toBe(1);
      const file = sessionFile(got, 1);
      const r = await strictDecode(file);
      expect(r.err).toBe("");
      expect(r.frames).toBe(45);
      // Presentation times are the camera's, one frame (6000 ± 1 ticks, the payloader rounds) apart.
      for (const [i, p] of r.pts.slice(1).entries()) expect(Math.abs(p - r.pts[i]! - 6000)).toBeLessThanOrEqual(1);
      // Decode times a frame apart too (not packed 1 tick apart after the first B-frame).
      for (const [i, d] of r.dts.slice(1).entries()) expect(Math.abs(d - r.dts[i]! - 6000)).toBeLessThanOrEqual(1);
      // Fragments end at clean points: a file cut after any fragment (a playback window's end)
      // shows every frame up to its last one — no B-frame shown earlier is left in the next.
      for (let k = 0; k < got.frags.length - 1; k++) {
        if (got.frags[k + 1]!.info.keyframe) continue; // keyframe cuts are clean by construction
        const prefix = await strictDecode(concat([got.inits[0]!.bytes, ...got.frags.slice(0, k + 1).map((f) => f.bytes)]));
        expect(prefix.err).toBe("");
        for (const [i, p] of prefix.pts.slice(1).entries()) expect({ k, step: Math.abs(p - prefix.pts[i]! - 6000) <= 1 }).toEqual({ k, step: true });
      }
      expect(got.frags.some((f) => f.info.durationMs < 900)).toBe(true); // not only keyframe cuts
    }, 90_000);
  }

  test("a small backward step in a stream without B-frames is a discontinuity, not reordering", async () => {
    const pkts = await gstRtp("h264", 45, false);
    const { depay, frag, got } = pipeline("h264");
    // Frame 20 onwards arrives 10 ms (900 ticks) before the previous frame: an RTP proxy's jump.
    feedRtp(depay, pkts, (au, t) => (au >= 20 ? t - 6000 - 900 : t));
    frag.flushAll();
    expect(got.inits.length).toBe(2);
    expect(got.inits[1]!.change?.detail).toContain("stepped back");
    for (const s of [1, 2]) {
      const r = await strictDecode(sessionFile(got, s));
      expect(r.err).toBe("");
    }
    expect((await strictDecode(sessionFile(got, 1))).frames).toBe(20);
  }, 30_000);

  test("two pictures stamped with the same RTP time: two samples in one session, not one merged sample", async () => {
    const pkts = await gstRtp("h264", 30, false);
    const { depay, frag, got } = pipeline("h264");
    // Frame 10 carries frame 9's timestamp (a live encoder's duplicate).
    let t9 = 0;
    feedRtp(depay, pkts, (au, t) => (au === 9 ? (t9 = t) : au === 10 ? t9 : t));
    frag.flushAll();
    expect(got.inits.map((i) => i.change?.detail)).toEqual([undefined]);
    const r = await strictDecode(sessionFile(got, 1));
    expect(r.err).toBe("");
    expect(r.frames).toBe(30);
  }, 30_000);

  test("B-frames and a backward jump of 0.5 s, then the 32-bit wrap: every session decodes cleanly", async () => {
    const pkts = await gstRtp("h264", 60, true);
    const { depay, frag, got } = pipeline("h264");
    feedRtp(depay, pkts, (au, t) => (au >= 25 ? t - 45_000 : t) + (au >= 40 ? 0xffffffff - 0x7fffffff : 0));
    frag.flushAll();
    expect(got.inits.length).toBeGreaterThanOrEqual(2);
    for (let s = 1; s <= got.inits.length; s++) {
      if (!got.frags.some((f) => f.session === s)) continue;
      const r = await strictDecode(sessionFile(got, s));
      expect(r.err).toBe("");
    }
  }, 30_000);
});

describe("native engine: parsing", () => {
  test("SPS size, AAC config, SDP control URLs", () => {
    expect(h264SpsSize(base64Bytes("Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAPR4sXUA=="))).toEqual({ width: 640, height: 360 });
    expect(aacConfig("1408")).toMatchObject({ sampleRate: 16000, channels: 1 });
    expect(aacConfig("1190")).toMatchObject({ sampleRate: 48000, channels: 2 });
    expect(() => aacConfig("zz")).toThrow(/not hex/);
    const m = parseSdpMedia("v=0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0I=,aM4=\r\na=control:stream=0\r\nm=audio 0 RTP/AVP 0\r\na=control:rtsp://h/x/audio\r\n", "rtsp://h/x/");
    expect(m[0]).toMatchObject({ encoding: "H264", clockRate: 90000, control: "rtsp://h/x/stream=0" });
    expect(m[0]!.fmtp["sprop-parameter-sets"]).toBe("Z0I=,aM4=");
    expect(m[1]).toMatchObject({ encoding: "PCMU", clockRate: 8000, control: "rtsp://h/x/audio" });
  });

  test("RFC 3640: several AUs per packet, and one AU split across packets", () => {
    const frames: { ts: number; n: number }[] = [];
    const d = new AacDepacketizer(13, 3, 3);
    d.onFrame = (f) => frames.push({ ts: f.timestamp, n: f.data.length });
    const au = (sizes: number[], data: number) => {
      const hdr = new Uint8Array(2 + sizes.length * 2);
      hdr[1] = sizes.length * 16;
      sizes.forEach((s, i) => {
        hdr[2 + i * 2] = s >> 5;
        hdr[3 + i * 2] = (s & 0x1f) << 3;
      });
      return concat([hdr, new Uint8Array(data)]);
    };
    d.push(parseRtp(rtp(100, true, au([10, 20], 30)))!);
    d.push(parseRtp(rtp(3000, false, au([50], 30)))!);
    d.push(parseRtp(rtp(3000, true, au([50], 20)))!);
    expect(frames).toEqual([
      { ts: 100, n: 10 },
      { ts: 1124, n: 20 },
      { ts: 3000, n: 50 },
    ]);
    expect(parseRtp(new Uint8Array([1, 2, 3]))).toBeNull();
  });
});
