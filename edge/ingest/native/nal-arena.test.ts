/**
 * NAL units live in a reused arena (nal-arena.ts) from the depacketizer until the fragmenter has
 * muxed them. A view written over while someone still reads it is silent corruption, so these
 * tests hold views and fragments the way slow readers do and check their bytes afterwards.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { NalArena } from "./nal-arena.ts";
import { Fragmenter } from "./fragmenter.ts";
import { VideoDepacketizer, parseRtp } from "./rtp.ts";
import { base64Bytes } from "./codec.ts";
import { rtpPacket } from "./rtp-testkit.ts";

describe("NalArena", () => {
  test("a view keeps its bytes until released, whatever is written after it; released space is written again", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 3000 }), hold: fc.integer({ min: 0, max: 6 }), parts: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1024, max: 8192 }),
        (ops, chunk) => {
          const arena = new NalArena(chunk);
          const held: { view: Uint8Array; want: Uint8Array; until: number }[] = [];
          const buffers = new Set<ArrayBufferLike>();
          ops.forEach((op, i) => {
            const want = new Uint8Array(op.size).map((_, k) => (i * 31 + k * 7) & 0xff);
            let view: Uint8Array;
            if (op.parts === 1) view = arena.copy(want);
            else {
              // Built piece by piece, as FU reassembly does (the unit may move to a new chunk midway).
              arena.begin();
              arena.push(want[0]!);
              const step = Math.ceil((want.length - 1) / op.parts);
              for (let o = 1; o < want.length; o += step) arena.append(want.subarray(o, Math.min(want.length, o + step)));
              view = arena.finish();
            }
            buffers.add(view.buffer);
            held.push({ view, want, until: i + op.hold });
            for (let k = held.length - 1; k >= 0; k--) {
              const h = held[k]!;
              expect(h.view).toEqual(h.want);
              if (h.until <= i) {
                arena.release(h.view);
                held.splice(k, 1);
              }
            }
          });
          for (const h of held) expect(h.view).toEqual(h.want);
          // Released views' space is reused: far fewer buffers than views (a new one per view before).
          const total = ops.reduce((n, o) => n + o.size, 0);
          expect(buffers.size).toBeLessThanOrEqual(Math.max(4, Math.ceil((total * 2) / chunk) + 2));
        },
      ),
      { numRuns: 200 },
    );
  });

  test("an unfinished unit is dropped by abort or a new begin, never handed out", () => {
    const arena = new NalArena(64);
    arena.begin();
    arena.append(new Uint8Array(40).fill(1));
    arena.abort();
    const a = arena.copy(new Uint8Array([2, 2, 2]));
    arena.begin();
    arena.append(new Uint8Array(10).fill(3));
    const b = arena.copy(new Uint8Array([4, 4]));
    expect([...a]).toEqual([2, 2, 2]);
    expect([...b]).toEqual([4, 4]);
    expect(arena.building).toBe(false);
  });

  test("views never released pin at most a few chunks: the arena lets them go and allocates", () => {
    const arena = new NalArena(1024);
    const kept: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) kept.push(arena.copy(new Uint8Array(500).fill(i & 0xff)));
    expect(arena.chunks).toBeLessThanOrEqual(1 + 8 + 2);
    kept.forEach((v, i) => expect(v.every((x) => x === (i & 0xff))).toBe(true));
  });
});

// --- Through the depacketizer and the fragmenter -------------------------------------------

/** Baseline SPS 640x360 (no reordering) and a High-profile SPS without VUI (reordering assumed: frames held across cuts). */
const SPS_BASELINE = base64Bytes("Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAPR4sXUA==");
const SPS_HIGH = highSpsNoVui();
const PPS = new Uint8Array([0x68, 0xce, 0x38, 0x80]);

function highSpsNoVui(): Uint8Array {
  const bits: number[] = [];
  const put = (v: number, n: number) => {
    for (let i = n - 1; i >= 0; i--) bits.push((v >> i) & 1);
  };
  const ue = (v: number) => {
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    put(0, len);
    put(x, len + 1);
  };
  put(100, 8); // profile_idc High
  put(0, 8);
  put(30, 8); // level
  ue(0); // sps id
  ue(1); // chroma 4:2:0
  ue(0);
  ue(0);
  put(0, 1);
  put(0, 1); // no scaling matrices
  ue(0); // log2_max_frame_num - 4
  ue(0); // poc type 0
  ue(0);
  ue(2); // ref frames
  put(0, 1);
  ue(39); // 640 wide
  ue(21); // 352 high
  put(1, 1); // frame_mbs_only
  put(1, 1);
  put(0, 1); // no cropping
  put(0, 1); // no VUI
  put(1, 1); // stop bit
  while (bits.length % 8) bits.push(0);
  const out = new Uint8Array(1 + bits.length / 8);
  out[0] = 0x67;
  for (let i = 0; i < bits.length; i++) out[1 + (i >> 3)]! |= bits[i]! << (7 - (i & 7));
  return out;
}

/** An H.264 slice NAL unit: header, first_mb_in_slice = 0, then `size` pseudo-random bytes. */
function slice(key: boolean, size: number, seed: number): Uint8Array {
  const n = new Uint8Array(size + 2);
  n[0] = key ? 0x65 : 0x41;
  n[1] = 0x88;
  let x = seed * 2654435761 + 1;
  for (let i = 2; i < n.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    n[i] = x >>> 24;
  }
  return n;
}

let seq = 0;
/** RFC 6184 packets of one access unit: parameter sets as STAP-A, each slice whole or as FU-A cut at `cuts` (sizes, cycled). */
function packets(au: Uint8Array[], ts: number, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const params = au.filter((n) => (n[0]! & 0x1f) >= 7);
  if (params.length) {
    const parts = [new Uint8Array([24]), ...params.flatMap((p) => [new Uint8Array([p.length >> 8, p.length & 0xff]), p])];
    out.push(Uint8Array.from(parts.flatMap((p) => [...p])));
  }
  let c = 0;
  for (const n of au.filter((x) => (x[0]! & 0x1f) < 7)) {
    const body = n.subarray(1);
    if (body.length <= cuts[0]!) {
      out.push(n);
      continue;
    }
    for (let o = 0; o < body.length; ) {
      const len = cuts[c++ % cuts.length]!;
      const piece = body.subarray(o, o + len);
      const fu = new Uint8Array(2 + piece.length);
      fu[0] = (n[0]! & 0xe0) | 28;
      fu[1] = (o === 0 ? 0x80 : 0) | (o + len >= body.length ? 0x40 : 0) | (n[0]! & 0x1f);
      fu.set(piece, 2);
      out.push(fu);
      o += len;
    }
  }
  return out.map((p, i) => rtpPacket((seq = (seq + 1) & 0xffff), ts, i === out.length - 1, p));
}

/** The NAL units in a fragment's mdat (video only: 4-byte length, unit, repeated). */
function mdatNals(frag: Uint8Array): Uint8Array[] {
  const dv = new DataView(frag.buffer, frag.byteOffset, frag.byteLength);
  let o = dv.getUint32(0); // after the moof
  const end = o + dv.getUint32(o);
  o += 8;
  const nals: Uint8Array[] = [];
  while (o < end) {
    const n = dv.getUint32(o);
    nals.push(frag.slice(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return nals;
}

describe("depacketizer → fragmenter with reused NAL memory", () => {
  test("bytes out == bytes in, and fragments held by a slow reader keep their bytes (random NAL sizes, packet cuts, fragment lengths, reordering or not)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 2, maxLength: 90 }),
        fc.array(fc.integer({ min: 20, max: 1400 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 100, max: 1500 }),
        fc.boolean(),
        fc.integer({ min: 2048, max: 256 * 1024 }),
        (sizes, cuts, gop, fragmentMs, reorder, chunk) => {
          const frags: { bytes: Uint8Array; copy: Uint8Array }[] = [];
          const buffers = new Set<ArrayBufferLike>();
          // Small chunks: NAL memory is reused many times within one fragment's life.
          const depay = new VideoDepacketizer("h264", new NalArena(chunk));
          const frag = new Fragmenter({
            codec: "h264",
            fragmentMs,
            now: () => 0,
            onInit: () => undefined,
            onFragment: (bytes) => frags.push({ bytes, copy: bytes.slice() }),
            releaseNal: (n) => depay.release(n),
          });
          depay.onAccessUnit = (au) => {
            for (const n of au.nals) buffers.add(n.buffer);
            frag.video(au);
          };
          const sps = reorder ? SPS_HIGH : SPS_BASELINE;
          const sent: Uint8Array[] = [];
          // A P frame before the first keyframe: dropped (and released) by the fragmenter.
          for (const p of packets([slice(false, 500, 999)], 0, cuts)) depay.push(parseRtp(p)!);
          sizes.forEach((size, i) => {
            const key = i % gop === 0;
            const au = key ? [sps, PPS, slice(true, size, i)] : [slice(false, size, i)];
            sent.push(...au);
            for (const p of packets(au, 3000 * (i + 1), cuts)) depay.push(parseRtp(p)!);
          });
          frag.flushAll();
          const got = frags.flatMap((f) => mdatNals(f.bytes));
          expect(got.length).toBe(sent.length);
          got.forEach((n, i) => expect(n).toEqual(sent[i]!));
          for (const f of frags) expect(f.bytes).toEqual(f.copy);
          // The NAL units shared a few buffers, reused (before: one buffer each).
          if (chunk >= 128 * 1024) expect(buffers.size).toBeLessThanOrEqual(Math.max(3, Math.ceil(sizes.reduce((a, b) => a + b, 0) / (chunk / 2)) + 3));
        },
      ),
      { numRuns: 60 },
    );
  });

  test("parameter sets the fragmenter keeps are its own copies: an init made after NAL memory was reused has the PPS seen long before", () => {
    const inits: Uint8Array[] = [];
    const depay = new VideoDepacketizer("h264");
    const frag = new Fragmenter({ codec: "h264", now: () => 0, onInit: (b) => inits.push(b.slice()), onFragment: () => undefined, releaseNal: (n) => depay.release(n) });
    depay.onAccessUnit = (au) => frag.video(au);
    let ts = 0;
    const send = (au: Uint8Array[]) => {
      for (const p of packets(au, (ts += 6000), [1200])) depay.push(parseRtp(p)!);
    };
    for (let i = 0; i < 60; i++) send(i % 15 === 0 ? [SPS_BASELINE, PPS, slice(true, 30_000, i)] : [slice(false, 30_000, i)]);
    // A new SPS in band without a PPS: the new session's init is made with the PPS kept from the first keyframe.
    send([SPS_HIGH, slice(true, 30_000, 7)]);
    expect(inits.length).toBe(2);
    const has = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
    expect(has(inits[1]!, PPS)).toBe(true);
    expect(has(inits[1]!, SPS_HIGH)).toBe(true);
    expect(has(inits[0]!, SPS_BASELINE)).toBe(true);
  });
});
