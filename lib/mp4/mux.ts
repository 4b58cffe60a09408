/**
 * Fragmented MP4 writing for the native ingest (edge/ingest/native): an init segment
 * (ftyp + moov with avcC/hvcC/esds/dfLa and mvex/trex) and fragments (moof with one traf per track,
 * tfhd default-base-is-moof with sample defaults, tfdt v1, compact trun + mdat),
 * laid out exactly as parseInit/parseFragment read them. Pure functions; no I/O.
 */
import { concat } from "./box.ts";
import type { FragmentInfo, TrackRun } from "./fragment.ts";
import type { FragmentPool } from "./pool.ts";

export interface MuxVideoTrack {
  kind: "video";
  codec: "h264" | "h265";
  width: number;
  height: number;
  /** Parameter-set NAL units without start codes or length prefixes. */
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** H.265 only. */
  vps?: Uint8Array[];
  /** H.265 only: profile_tier_level bytes (12) for hvcC, from the SPS. */
  ptl?: Uint8Array;
  timescale: number;
}

export interface MuxAudioTrack {
  kind: "audio";
  /** aac: `mp4a` + esds; flac: `fLaC` + dfLa (ISO/IEC 14496-12 FLAC mapping). */
  codec: "aac" | "flac";
  sampleRate: number;
  channels: number;
  /** AudioSpecificConfig (aac), or the FLAC metadata blocks that go into dfLa (flac). */
  config: Uint8Array;
  timescale: number;
}

export type MuxTrack = MuxVideoTrack | MuxAudioTrack;

export interface MuxSample {
  /** Payload parts; for video each part is one NAL unit and gets a 4-byte length prefix. */
  parts: Uint8Array[];
  duration: number;
  keyframe: boolean;
  /** Composition offset (pts − dts), in the track timescale; 0 without B-frames. */
  cts: number;
}

export interface MuxRun {
  trackId: number;
  baseDecodeTime: number;
  /** Length-prefix every part (video NAL units). */
  nalPrefix: boolean;
  samples: MuxSample[];
}

const FLAGS_SYNC = 0x02000000; // sample_depends_on = 2 (independent)
const FLAGS_NON_SYNC = 0x01010000; // depends_on = 1, sample_is_non_sync_sample

function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}
function u16(n: number): Uint8Array {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}
function bytes(...n: number[]): Uint8Array {
  return new Uint8Array(n);
}
function fourcc(s: string): Uint8Array {
  return new Uint8Array([s.charCodeAt(0), s.charCodeAt(1), s.charCodeAt(2), s.charCodeAt(3)]);
}
function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  const body = concat(parts);
  return concat([u32(body.length + 8), fourcc(type), body]);
}
function fullBox(type: string, version: number, flags: number, ...parts: Uint8Array[]): Uint8Array {
  return box(type, u32(((version & 0xff) << 24) | (flags & 0xffffff)), ...parts);
}
const zeros = (n: number) => new Uint8Array(n);
const MATRIX = concat([u32(0x10000), u32(0), u32(0), u32(0), u32(0x10000), u32(0), u32(0), u32(0), u32(0x40000000)]);

function avcC(t: MuxVideoTrack): Uint8Array {
  const sps = t.sps[0]!;
  const parts: Uint8Array[] = [bytes(1, sps[1] ?? 0, sps[2] ?? 0, sps[3] ?? 0, 0xff, 0xe0 | t.sps.length)];
  for (const s of t.sps) parts.push(u16(s.length), s);
  parts.push(bytes(t.pps.length));
  for (const p of t.pps) parts.push(u16(p.length), p);
  return box("avcC", ...parts);
}

function hvcC(t: MuxVideoTrack): Uint8Array {
  const ptl = t.ptl ?? zeros(12);
  const arrays: [number, Uint8Array[]][] = [
    [32, t.vps ?? []],
    [33, t.sps],
    [34, t.pps],
  ];
  const parts: Uint8Array[] = [
    bytes(1),
    ptl, // general_profile_space/tier/profile_idc, compat flags, constraint flags, level_idc
    u16(0xf000), // min_spatial_segmentation_idc = 0
    bytes(0xfc), // parallelismType = 0
    bytes(0xfd), // chroma_format_idc = 1 (4:2:0)
    bytes(0xf8), // bit_depth_luma_minus8 = 0
    bytes(0xf8), // bit_depth_chroma_minus8 = 0
    u16(0), // avgFrameRate
    bytes(0x0f), // constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3
    bytes(arrays.filter(([, a]) => a.length).length),
  ];
  for (const [type, nals] of arrays) {
    if (!nals.length) continue;
    parts.push(bytes(0x80 | type), u16(nals.length));
    for (const n of nals) parts.push(u16(n.length), n);
  }
  return box("hvcC", ...parts);
}

function descriptor(tag: number, body: Uint8Array): Uint8Array {
  // 4-byte size form (0x80 0x80 0x80 n): what most muxers write; every reader accepts it.
  const n = body.length;
  return concat([bytes(tag, 0x80 | ((n >> 21) & 0x7f), 0x80 | ((n >> 14) & 0x7f), 0x80 | ((n >> 7) & 0x7f), n & 0x7f), body]);
}

function esds(t: MuxAudioTrack): Uint8Array {
  const dsi = descriptor(5, t.config);
  const dcd = descriptor(4, concat([bytes(0x40, 0x15, 0, 0, 0), u32(0), u32(0), dsi]));
  const es = descriptor(3, concat([u16(0), bytes(0), dcd, descriptor(6, bytes(2))]));
  return fullBox("esds", 0, 0, es);
}

function sampleEntry(t: MuxTrack): Uint8Array {
  if (t.kind === "video") {
    return box(
      t.codec === "h264" ? "avc1" : "hvc1",
      zeros(6),
      u16(1), // data_reference_index
      zeros(16),
      u16(t.width),
      u16(t.height),
      u32(0x00480000),
      u32(0x00480000),
      u32(0),
      u16(1), // frame_count
      zeros(32), // compressorname
      u16(0x18),
      u16(0xffff),
      t.codec === "h264" ? avcC(t) : hvcC(t),
    );
  }
  const audio = [zeros(6), u16(1), zeros(8), u16(t.channels), u16(16), u16(0), u16(0), u32((t.sampleRate & 0xffff) * 0x10000)];
  if (t.codec === "flac") return box("fLaC", ...audio, fullBox("dfLa", 0, 0, t.config));
  return box("mp4a", ...audio, esds(t));
}

function trak(t: MuxTrack, trackId: number): Uint8Array {
  const video = t.kind === "video";
  const tkhd = fullBox(
    "tkhd",
    0,
    3, // enabled, in movie
    u32(0),
    u32(0),
    u32(trackId),
    u32(0),
    u32(0), // duration
    zeros(8),
    u16(0), // layer
    u16(video ? 0 : 1), // alternate_group
    u16(video ? 0 : 0x0100), // volume
    u16(0),
    MATRIX,
    u32(video ? t.width * 0x10000 : 0),
    u32(video ? t.height * 0x10000 : 0),
  );
  const mdhd = fullBox("mdhd", 0, 0, u32(0), u32(0), u32(t.timescale), u32(0), u16(0x55c4), u16(0));
  const hdlr = fullBox("hdlr", 0, 0, u32(0), fourcc(video ? "vide" : "soun"), zeros(12), new TextEncoder().encode(video ? "VideoHandler\0" : "SoundHandler\0"));
  const mhd = video ? fullBox("vmhd", 0, 1, zeros(8)) : fullBox("smhd", 0, 0, zeros(4));
  const dinf = box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1)));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, 0, u32(1), sampleEntry(t)),
    fullBox("stts", 0, 0, u32(0)),
    fullBox("stsc", 0, 0, u32(0)),
    fullBox("stsz", 0, 0, u32(0), u32(0)),
    fullBox("stco", 0, 0, u32(0)),
  );
  return box("trak", tkhd, box("mdia", mdhd, hdlr, box("minf", mhd, dinf, stbl)));
}

/** ftyp + moov for these tracks; track ids are 1, 2, … in the given order. */
export function muxInit(tracks: MuxTrack[]): Uint8Array {
  const video = tracks.find((t): t is MuxVideoTrack => t.kind === "video");
  const brand = video?.codec === "h265" ? "hvc1" : "avc1";
  const ftyp = box("ftyp", fourcc("isom"), u32(0x200), fourcc("isom"), fourcc("iso6"), fourcc("iso2"), fourcc(brand), fourcc("mp41"));
  const mvhd = fullBox("mvhd", 0, 0, u32(0), u32(0), u32(1000), u32(0), u32(0x10000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(tracks.length + 1));
  const traks = tracks.map((t, i) => trak(t, i + 1));
  const mvex = box("mvex", ...tracks.map((_, i) => fullBox("trex", 0, 0, u32(i + 1), u32(1), u32(0), u32(0), u32(0))));
  return concat([ftyp, box("moov", mvhd, ...traks, mvex)]);
}

/**
 * Which trun fields a run needs per sample. Container bytes per frame are the recorder's
 * overhead on disk and on the link, so equal durations go to tfhd's default, and the usual
 * "keyframe first, then non-sync" pattern to first_sample_flags + a default.
 */
interface RunLayout {
  tfhdSize: number;
  /** Set when every sample has this duration (tfhd default). */
  defaultDuration: number | undefined;
  defaultFlags: number | undefined;
  firstFlags: number | undefined;
  durations: boolean;
  flags: boolean;
  cts: boolean;
  perSample: number;
  trafSize: number;
  /** Bytes of the run's samples in the mdat. */
  mdatBytes: number;
}

/**
 * One pass over the samples (this runs for every fragment of every stream: plain loops, no
 * per-sample arrays or callbacks).
 */
function layoutOf(r: MuxRun): RunLayout {
  const ss = r.samples;
  const n = ss.length;
  const d0 = ss[0]!.duration >>> 0;
  let equalDur = true;
  let cts = false;
  let allKey = true;
  let restNonKey = true;
  let mdatBytes = 0;
  const prefix = r.nalPrefix ? 4 : 0;
  for (let i = 0; i < n; i++) {
    const s = ss[i]!;
    if (s.duration >>> 0 !== d0) equalDur = false;
    if (s.cts !== 0) cts = true;
    if (!s.keyframe) allKey = false;
    else if (i > 0) restNonKey = false;
    const parts = s.parts;
    for (let k = 0; k < parts.length; k++) mdatBytes += parts[k]!.length + prefix;
  }
  let defaultFlags: number | undefined;
  let firstFlags: number | undefined;
  let flags = false;
  if (allKey) defaultFlags = FLAGS_SYNC;
  else if (restNonKey) {
    defaultFlags = FLAGS_NON_SYNC;
    if (ss[0]!.keyframe) firstFlags = FLAGS_SYNC;
  } else flags = true;
  const tfhdSize = 16 + (equalDur ? 4 : 0) + (defaultFlags !== undefined ? 4 : 0);
  const perSample = 4 + (equalDur ? 0 : 4) + (flags ? 4 : 0) + (cts ? 4 : 0);
  return {
    tfhdSize,
    defaultDuration: equalDur ? d0 : undefined,
    defaultFlags,
    firstFlags,
    durations: !equalDur,
    flags,
    cts,
    perSample,
    trafSize: 8 + tfhdSize + 20 + 20 + (firstFlags !== undefined ? 4 : 0) + n * perSample,
    mdatBytes,
  };
}

/**
 * One fragment: moof (mfhd + one traf per run) + mdat holding the runs' samples in order.
 * Runs without samples are left out. The output is one buffer sized up front (a new one, or a
 * pooled one held once by the caller: lib/mp4/pool.ts); each sample's trun entry and its payload
 * are written in the same pass.
 */
export function muxFragment(sequence: number, runs: MuxRun[], info?: FragmentInfo, pool?: FragmentPool): Uint8Array {
  const tfdts: MuxedTfdt[] = [];
  const layouts: (RunLayout | undefined)[] = [];
  let moofSize = 8 + 16;
  let mdatBody = 0;
  for (let i = 0; i < runs.length; i++) {
    const l = runs[i]!.samples.length > 0 ? layoutOf(runs[i]!) : undefined;
    layouts.push(l);
    if (!l) continue;
    moofSize += l.trafSize;
    mdatBody += l.mdatBytes;
  }
  const out = pool ? pool.take(moofSize + 8 + mdatBody) : new Uint8Array(moofSize + 8 + mdatBody);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const hdr = (at: number, size: number, a: number, b: number, c: number, d: number) => {
    dv.setUint32(at, size);
    out[at + 4] = a;
    out[at + 5] = b;
    out[at + 6] = c;
    out[at + 7] = d;
  };
  hdr(0, moofSize, 0x6d, 0x6f, 0x6f, 0x66); // moof
  hdr(8, 16, 0x6d, 0x66, 0x68, 0x64); // mfhd
  dv.setUint32(16, 0);
  dv.setUint32(20, sequence >>> 0);
  let o = 24;
  // The mdat header, then each sample's payload at `m` while its trun entry goes at `o`.
  hdr(moofSize, 8 + mdatBody, 0x6d, 0x64, 0x61, 0x74); // mdat
  let m = moofSize + 8;
  for (let i = 0; i < runs.length; i++) {
    const l = layouts[i];
    if (!l) continue;
    const r = runs[i]!;
    const ss = r.samples;
    hdr(o, l.trafSize, 0x74, 0x72, 0x61, 0x66); // traf
    hdr(o + 8, l.tfhdSize, 0x74, 0x66, 0x68, 0x64); // tfhd
    o += 16;
    // default-base-is-moof, plus defaults that spare per-sample fields in the trun.
    dv.setUint32(o, 0x020000 | (l.defaultDuration !== undefined ? 0x08 : 0) | (l.defaultFlags !== undefined ? 0x20 : 0));
    dv.setUint32(o + 4, r.trackId);
    o += 8;
    if (l.defaultDuration !== undefined) (dv.setUint32(o, l.defaultDuration), (o += 4));
    if (l.defaultFlags !== undefined) (dv.setUint32(o, l.defaultFlags), (o += 4));
    hdr(o, 20, 0x74, 0x66, 0x64, 0x74); // tfdt
    dv.setUint32(o + 8, 0x01000000);
    const ticks = Math.max(0, Math.round(r.baseDecodeTime));
    dv.setBigUint64(o + 12, BigInt(ticks));
    tfdts.push({ trackId: r.trackId, at: o + 12, ticks });
    o += 20;
    hdr(o, 20 + (l.firstFlags !== undefined ? 4 : 0) + ss.length * l.perSample, 0x74, 0x72, 0x75, 0x6e); // trun
    // version 1: signed composition offsets.
    const flags =
      0x000001 | (l.firstFlags !== undefined ? 0x000004 : 0) | (l.durations ? 0x000100 : 0) | 0x000200 | (l.flags ? 0x000400 : 0) | (l.cts ? 0x000800 : 0);
    dv.setUint32(o + 8, ((l.cts ? 1 : 0) << 24) | flags);
    dv.setUint32(o + 12, ss.length);
    dv.setInt32(o + 16, m); // data offset from the moof's start: where this run's first payload goes
    o += 20;
    if (l.firstFlags !== undefined) (dv.setUint32(o, l.firstFlags), (o += 4));
    for (let k = 0; k < ss.length; k++) {
      const s = ss[k]!;
      const start = m;
      const parts = s.parts;
      for (let j = 0; j < parts.length; j++) {
        const p = parts[j]!;
        if (r.nalPrefix) (dv.setUint32(m, p.length), (m += 4));
        out.set(p, m);
        m += p.length;
      }
      if (l.durations) (dv.setUint32(o, s.duration >>> 0), (o += 4));
      dv.setUint32(o, m - start);
      o += 4;
      if (l.flags) (dv.setUint32(o, s.keyframe ? FLAGS_SYNC : FLAGS_NON_SYNC), (o += 4));
      if (l.cts) (dv.setInt32(o, s.cts), (o += 4));
    }
  }
  muxed.set(out, { moofSize, tfdts, info });
  return out;
}

/** A tfdt (version 1) of a fragment muxFragment built: the byte offset of its 64-bit time. */
export interface MuxedTfdt {
  trackId: number;
  at: number;
  ticks: number;
}

/**
 * What muxFragment knows about each fragment it built (one moof + one mdat, every tfdt version 1,
 * and the FragmentInfo the caller passed for it): the store's writer retimes and indexes such a
 * fragment without parsing it back (lib/mp4/muxed.ts). Held weakly: it goes with the bytes.
 */
export interface MuxedLayout {
  moofSize: number;
  tfdts: MuxedTfdt[];
  info: FragmentInfo | undefined;
}
const muxed = new WeakMap<Uint8Array, MuxedLayout>();

export function muxedLayout(bytes: Uint8Array): MuxedLayout | undefined {
  return muxed.get(bytes);
}

/** FragmentInfo of a fragment made by muxFragment, without parsing it back. */
export function muxedFragmentInfo(runsIn: MuxRun[], timescales: Map<number, number>, videoTrackId: number | undefined): FragmentInfo {
  const runs: TrackRun[] = [];
  let videoRun: TrackRun | undefined;
  for (const r of runsIn) {
    const ss = r.samples;
    if (!ss.length) continue;
    let duration = 0;
    for (let k = 0; k < ss.length; k++) duration += ss[k]!.duration >>> 0;
    const run: TrackRun = { trackId: r.trackId, baseDecodeTime: Math.max(0, Math.round(r.baseDecodeTime)), duration, sampleCount: ss.length, startsWithSync: ss[0]!.keyframe };
    runs.push(run);
    if (videoRun === undefined && videoTrackId !== undefined && r.trackId === videoTrackId) videoRun = run;
  }
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
