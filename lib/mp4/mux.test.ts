import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { concat, fragmentEntry, muxFragment, muxInit, muxedFragmentInfo, parseFragment, parseInit, readBox, retimeFragmentParts, retimeMuxed, type FragmentInfo, type InitInfo, type MuxRun, type MuxSample, type TrackRun } from "./index.ts";

const bytesArb = fc.uint8Array({ minLength: 0, maxLength: 40 });
const sampleArb: fc.Arbitrary<MuxSample> = fc.record({
  parts: fc.array(bytesArb, { minLength: 0, maxLength: 3 }),
  // Mostly equal durations (the tfhd default), sometimes not; values past 32 bits wrap as written.
  duration: fc.oneof(fc.constant(3000), fc.constant(6000), fc.integer({ min: 0, max: 2 ** 32 + 5 })),
  keyframe: fc.boolean(),
  cts: fc.oneof(fc.constant(0), fc.integer({ min: -9000, max: 9000 })),
});
const runArb: fc.Arbitrary<MuxRun> = fc.record({
  trackId: fc.integer({ min: 1, max: 3 }),
  baseDecodeTime: fc.oneof(fc.integer({ min: -10, max: 2 ** 40 }), fc.double({ min: -5, max: 1e9, noNaN: true })),
  nalPrefix: fc.boolean(),
  // Keyframe-first runs (the usual shape) as well as any mix.
  samples: fc.oneof(
    fc.array(sampleArb, { minLength: 0, maxLength: 12 }),
    fc.array(sampleArb, { minLength: 1, maxLength: 12 }).map((ss) => ss.map((s, i) => ({ ...s, keyframe: i === 0 }))),
  ),
});

describe("muxFragment", () => {
  test("writes the same bytes and info as the muxer it replaced, for any sample lists", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 + 3 }), fc.array(runArb, { minLength: 0, maxLength: 3 }), (seq, runs) => {
        expect(muxFragment(seq, runs)).toEqual(oracleMuxFragment(seq, runs));
        const ts = new Map([[1, 90_000], [2, 48_000]]);
        for (const vid of [1, 2, undefined]) expect(muxedFragmentInfo(runs, ts, vid)).toEqual(oracleMuxedFragmentInfo(runs, ts, vid));
      }),
      { numRuns: 2000 },
    );
  });

  test("its info is what parsing the fragment back finds", () => {
    const init = parseInit(
      muxInit([
        { kind: "video", codec: "h264", width: 64, height: 48, sps: [Uint8Array.of(0x67, 0x42, 0xc0, 0x1e)], pps: [Uint8Array.of(0x68, 0xce)], timescale: 90_000 },
        { kind: "audio", codec: "aac", sampleRate: 48_000, channels: 1, config: Uint8Array.of(0x11, 0x88), timescale: 48_000 },
      ]),
    );
    const ts = new Map([[1, 90_000], [2, 48_000]]);
    const sizedRun = (trackId: number) =>
      fc.record({ trackId: fc.constant(trackId), baseDecodeTime: fc.integer({ min: 0, max: 2 ** 40 }), nalPrefix: fc.boolean(), samples: fc.array(sampleArb, { minLength: 1, maxLength: 12 }) });
    fc.assert(
      fc.property(sizedRun(1), fc.option(sizedRun(2)), (v, a) => {
        const runs = a ? [v, a] : [v];
        for (const r of runs) for (const s of r.samples) s.duration = s.duration >>> 0;
        expect(parseFragment(muxFragment(7, runs), init)).toEqual(muxedFragmentInfo(runs, ts, 1));
      }),
      { numRuns: 500 },
    );
  });
});

const videoAudioInit = parseInit(
  muxInit([
    { kind: "video", codec: "h264", width: 64, height: 48, sps: [Uint8Array.of(0x67, 0x42, 0xc0, 0x1e)], pps: [Uint8Array.of(0x68, 0xce)], timescale: 90_000 },
    { kind: "audio", codec: "aac", sampleRate: 48_000, channels: 1, config: Uint8Array.of(0x11, 0x88), timescale: 48_000 },
  ]),
);
const audioOnlyInit = parseInit(muxInit([{ kind: "audio", codec: "aac", sampleRate: 16_000, channels: 1, config: Uint8Array.of(0x14, 0x08), timescale: 16_000 }]));

/** The general path of the store's writer: retime by parsing, then the table entry of the retimed moof. */
function generalPath(bytes: Uint8Array, init: InitInfo, rebaseMs: number, offset: number) {
  const out = concat(rebaseMs === 0 ? [bytes] : retimeFragmentParts(bytes, init, (_t, ms) => ms - rebaseMs));
  const moof = readBox(out, 0)!;
  return { bytes: out, entry: fragmentEntry(out.subarray(0, moof.size), out.length - moof.size, offset, init) };
}

describe("retimeMuxed", () => {
  test("retimes and indexes a muxed fragment exactly as parsing it back does", () => {
    fc.assert(
      fc.property(
        fc.array(runArb, { minLength: 0, maxLength: 3 }),
        fc.boolean(),
        fc.oneof(fc.constant(0), fc.integer({ min: -1000, max: 2 ** 36 }), fc.double({ min: -100, max: 1e10, noNaN: true })),
        fc.nat(),
        (runs, withVideo, rebaseMs, offset) => {
          const init = withVideo ? videoAudioInit : audioOnlyInit;
          const ts = new Map(init.tracks.map((t) => [t.trackId, t.timescale]));
          const info = muxedFragmentInfo(runs, ts, init.video?.trackId);
          const bytes = muxFragment(5, runs, info);
          const fast = retimeMuxed(bytes, info, init, rebaseMs, offset)!;
          const want = generalPath(bytes, init, rebaseMs, offset);
          expect(concat(fast.parts)).toEqual(want.bytes);
          expect(fast.entry).toEqual(want.entry);
        },
      ),
      { numRuns: 1500 },
    );
  });

  test("declines bytes it did not mux, and an info that is not the one muxed with them", () => {
    const runs: MuxRun[] = [{ trackId: 1, baseDecodeTime: 9000, nalPrefix: true, samples: [{ parts: [Uint8Array.of(0x65, 1, 2)], duration: 6000, keyframe: true, cts: 0 }] }];
    const ts = new Map([[1, 90_000]]);
    const info = muxedFragmentInfo(runs, ts, 1);
    const bytes = muxFragment(1, runs, info);
    expect(retimeMuxed(bytes, info, videoAudioInit, 100, 0)).toBeDefined();
    expect(retimeMuxed(bytes, { ...info }, videoAudioInit, 100, 0)).toBeUndefined();
    expect(retimeMuxed(bytes.slice(), info, videoAudioInit, 100, 0)).toBeUndefined();
    expect(retimeMuxed(muxFragment(1, runs), info, videoAudioInit, 100, 0)).toBeUndefined();
  });
});

// ── Oracle: the fragment muxer as it was before the rewrite without per-sample arrays
//    (issue 13), verbatim.

const FLAGS_SYNC = 0x02000000;
const FLAGS_NON_SYNC = 0x01010000;

/**
 * Which trun fields a run needs per sample. Container bytes per frame are the recorder's
 * overhead on disk and on the link, so equal durations go to tfhd's default, and the usual
 * "keyframe first, then non-sync" pattern to first_sample_flags + a default.
 */
interface RunLayout {
  tfhdSize: number;
  defaultDuration?: number;
  defaultFlags?: number;
  firstFlags?: number;
  durations: boolean;
  flags: boolean;
  cts: boolean;
  perSample: number;
}

function layoutOf(r: MuxRun): RunLayout {
  const ss = r.samples;
  const d0 = ss[0]!.duration >>> 0;
  const equalDur = ss.every((x) => x.duration >>> 0 === d0);
  const cts = ss.some((x) => x.cts !== 0);
  let defaultFlags: number | undefined;
  let firstFlags: number | undefined;
  let flags = false;
  if (ss.every((x) => x.keyframe)) defaultFlags = FLAGS_SYNC;
  else if (ss.slice(1).every((x) => !x.keyframe)) {
    defaultFlags = FLAGS_NON_SYNC;
    if (ss[0]!.keyframe) firstFlags = FLAGS_SYNC;
  } else flags = true;
  const l: RunLayout = {
    tfhdSize: 16 + (equalDur ? 4 : 0) + (defaultFlags !== undefined ? 4 : 0),
    durations: !equalDur,
    flags,
    cts,
    perSample: 4 + (equalDur ? 0 : 4) + (flags ? 4 : 0) + (cts ? 4 : 0),
  };
  if (equalDur) l.defaultDuration = d0;
  if (defaultFlags !== undefined) l.defaultFlags = defaultFlags;
  if (firstFlags !== undefined) l.firstFlags = firstFlags;
  return l;
}

function sampleSize(s: MuxSample, prefix: boolean): number {
  let n = 0;
  for (const p of s.parts) n += p.length + (prefix ? 4 : 0);
  return n;
}

/**
 * One fragment: moof (mfhd + one traf per run) + mdat holding the runs' samples in order.
 * Runs without samples are left out.
 */
function oracleMuxFragment(sequence: number, runsIn: MuxRun[]): Uint8Array {
  const runs = runsIn.filter((r) => r.samples.length > 0);
  const sizes = runs.map((r) => r.samples.map((s) => sampleSize(s, r.nalPrefix)));
  const layouts = runs.map(layoutOf);
  const trafSizes = layouts.map((l, i) => 8 + l.tfhdSize + 20 + 20 + (l.firstFlags !== undefined ? 4 : 0) + runs[i]!.samples.length * l.perSample);
  const moofSize = 8 + 16 + trafSizes.reduce((a, b) => a + b, 0);
  let mdatBody = 0;
  for (const s of sizes) for (const n of s) mdatBody += n;
  const out = new Uint8Array(moofSize + 8 + mdatBody);
  const dv = new DataView(out.buffer);
  let o = 0;
  const hdr = (size: number, type: string) => {
    dv.setUint32(o, size);
    out[o + 4] = type.charCodeAt(0);
    out[o + 5] = type.charCodeAt(1);
    out[o + 6] = type.charCodeAt(2);
    out[o + 7] = type.charCodeAt(3);
    o += 8;
  };
  hdr(moofSize, "moof");
  hdr(16, "mfhd");
  dv.setUint32(o, 0);
  dv.setUint32(o + 4, sequence >>> 0);
  o += 8;
  let dataOffset = moofSize + 8;
  runs.forEach((r, i) => {
    const l = layouts[i]!;
    hdr(trafSizes[i]!, "traf");
    hdr(l.tfhdSize, "tfhd");
    // default-base-is-moof, plus defaults that spare per-sample fields in the trun.
    dv.setUint32(o, 0x020000 | (l.defaultDuration !== undefined ? 0x08 : 0) | (l.defaultFlags !== undefined ? 0x20 : 0));
    dv.setUint32(o + 4, r.trackId);
    o += 8;
    if (l.defaultDuration !== undefined) (dv.setUint32(o, l.defaultDuration), (o += 4));
    if (l.defaultFlags !== undefined) (dv.setUint32(o, l.defaultFlags), (o += 4));
    hdr(20, "tfdt");
    dv.setUint32(o, 0x01000000);
    dv.setBigUint64(o + 4, BigInt(Math.max(0, Math.round(r.baseDecodeTime))));
    o += 12;
    hdr(20 + (l.firstFlags !== undefined ? 4 : 0) + r.samples.length * l.perSample, "trun");
    // version 1: signed composition offsets.
    const flags =
      0x000001 | (l.firstFlags !== undefined ? 0x000004 : 0) | (l.durations ? 0x000100 : 0) | 0x000200 | (l.flags ? 0x000400 : 0) | (l.cts ? 0x000800 : 0);
    dv.setUint32(o, ((l.cts ? 1 : 0) << 24) | flags);
    dv.setUint32(o + 4, r.samples.length);
    dv.setInt32(o + 8, dataOffset);
    o += 12;
    if (l.firstFlags !== undefined) (dv.setUint32(o, l.firstFlags), (o += 4));
    const sz = sizes[i]!;
    r.samples.forEach((s, k) => {
      if (l.durations) (dv.setUint32(o, s.duration >>> 0), (o += 4));
      dv.setUint32(o, sz[k]!);
      o += 4;
      if (l.flags) (dv.setUint32(o, s.keyframe ? FLAGS_SYNC : FLAGS_NON_SYNC), (o += 4));
      if (l.cts) (dv.setInt32(o, s.cts), (o += 4));
      dataOffset += sz[k]!;
    });
  });
  hdr(8 + mdatBody, "mdat");
  for (const r of runs) {
    for (const s of r.samples) {
      for (const p of s.parts) {
        if (r.nalPrefix) {
          dv.setUint32(o, p.length);
          o += 4;
        }
        out.set(p, o);
        o += p.length;
      }
    }
  }
  return out;
}

/** FragmentInfo of a fragment made by muxFragment, without parsing it back. */
function oracleMuxedFragmentInfo(runsIn: MuxRun[], timescales: Map<number, number>, videoTrackId: number | undefined): FragmentInfo {
  const runs: TrackRun[] = runsIn
    .filter((r) => r.samples.length > 0)
    .map((r) => ({
      trackId: r.trackId,
      baseDecodeTime: Math.max(0, Math.round(r.baseDecodeTime)),
      duration: r.samples.reduce((a, s) => a + (s.duration >>> 0), 0),
      sampleCount: r.samples.length,
      startsWithSync: r.samples[0]!.keyframe,
    }));
  const videoRun = videoTrackId !== undefined ? runs.find((r) => r.trackId === videoTrackId) : undefined;
  const ref = videoRun ?? runs[0];
  const ts = (ref && timescales.get(ref.trackId)) || 1000;
  return {
    runs,
    hasReferenceTrack: videoTrackId !== undefined ? !!videoRun : true,
    keyframe: videoTrackId !== undefined ? !!videoRun?.startsWithSync : true,
    startMs: ref ? (ref.baseDecodeTime * 1000) / ts : 0,
    durationMs: ref ? (ref.duration * 1000) / ts : 0,
  };
}
