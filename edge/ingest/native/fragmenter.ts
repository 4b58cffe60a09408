/**
 * Access units and audio frames → fragmented MP4: an init segment per recording session and
 * fragments of ≤ ~500 ms that start at keyframes where possible (video and audio in one moof).
 *
 * Timing: RTP carries presentation times only. Decode time = the RTP timestamp extended past
 * its 32-bit wrap, relative to the session's first keyframe. Camera H.264/H.265 (baseline/main)
 * has no B-frames, so normally dts = pts and composition offsets are 0. If presentation times
 * do step back a little (B-frames), dts is made monotonic as max(prev dts + 1, pts − reorder
 * depth seen so far) and the difference is written as a (signed, trun v1) composition offset.
 * Audio is placed on the video timeline through the PLAY answer's RTP-Info (same instant for
 * every track), else by arrival time.
 *
 * A new session (new init segment, decode time from 0, caller ends the previous one with a
 * "restart" gap) starts when the SPS (resolution/profile) changes in-band, or when timestamps
 * jump (camera restart, SSRC change): writing across such a jump would break the timing.
 */
import { muxFragment, muxInit, muxedFragmentInfo, parseInit, type FragmentInfo, type InitInfo, type MuxAudioTrack, type MuxRun, type MuxSample, type MuxTrack, type MuxVideoTrack } from "../../../lib/mp4/index.ts";
import { h264SpsSize, h265Sps, type AacConfig } from "./codec.ts";
import type { AccessUnit, AudioFrame } from "./rtp.ts";

export interface SessionChange {
  reason: "restart";
  detail: string;
}

export interface FragmenterOptions {
  codec: "h264" | "h265";
  /** Parameter sets from the SDP (sprop-*), if any. */
  vps?: Uint8Array[];
  sps?: Uint8Array[];
  pps?: Uint8Array[];
  audio?: AacConfig & { clockRate: number };
  fragmentMs?: number;
  now: () => number;
  onInit: (bytes: Uint8Array, info: InitInfo, change?: SessionChange) => void;
  onFragment: (bytes: Uint8Array, info: FragmentInfo) => void;
  onWarn?: (msg: string, fields?: Record<string, unknown>) => void;
}

const VIDEO_RATE = 90_000;
const JUMP_BACK_TICKS = VIDEO_RATE; // > 1 s backwards: not B-frame reordering
const JUMP_FWD_TICKS = 5 * VIDEO_RATE;
const MAX_AUDIO_QUEUE = 512;

interface Pending {
  ext: number;
  nals: Uint8Array[];
  key: boolean;
}

/** Extends 32-bit RTP timestamps to a monotonic-ish number, wrap-around handled. */
class Extender {
  private last = -1;
  private ext = 0;
  next(ts: number): number {
    if (this.last < 0) this.ext = ts;
    else this.ext += (ts - this.last) | 0;
    this.last = ts;
    return this.ext;
  }
  reset(): void {
    this.last = -1;
  }
}

export class Fragmenter {
  private readonly codec: "h264" | "h265";
  private readonly fragTicks: number;
  private vps: Uint8Array | undefined;
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;
  private readonly vext = new Extender();
  private readonly aext = new Extender();
  private init: { bytes: Uint8Array; info: InitInfo; width: number; height: number } | undefined;
  private timescales = new Map<number, number>();
  private started = false;
  private change: SessionChange | undefined;
  private base = 0;
  private pending: Pending | undefined;
  private lastDts = -Infinity;
  private lastPts = -Infinity;
  private reorder = 0;
  private lastDur = 3000;
  private samples: MuxSample[] = [];
  private fragDts = 0;
  private fragDur = 0;
  private seq = 0;
  private audioQ: { ext: number; data: Uint8Array }[] = [];
  /** RTP-Info anchors (same instant on both clocks), or arrival-based estimates. */
  private vRef: number | undefined;
  private aRef: number | undefined;
  private lastVideo: { ext: number; at: number } | undefined;
  private bFramesSeen = false;

  constructor(private readonly o: FragmenterOptions) {
    this.codec = o.codec;
    this.fragTicks = ((o.fragmentMs ?? 500) * VIDEO_RATE) / 1000;
    this.vps = o.vps?.[0];
    this.sps = o.sps?.[0];
    this.pps = o.pps?.[0];
  }

  /** RTP-Info rtptime of the video and audio tracks: the same instant on both clocks. */
  anchor(videoRtptime: number | undefined, audioRtptime: number | undefined): void {
    if (videoRtptime === undefined || audioRtptime === undefined) return;
    this.vRef = this.vext.next(videoRtptime);
    this.aRef = this.aext.next(audioRtptime);
  }

  video(au: AccessUnit): void {
    let key = false;
    let sps: Uint8Array | undefined;
    for (const n of au.nals) {
      const t = this.codec === "h264" ? n[0]! & 0x1f : (n[0]! >> 1) & 0x3f;
      if (this.codec === "h264") {
        if (t === 5) key = true;
        else if (t === 7) sps = n;
        else if (t === 8) this.pps = n;
      } else {
        if (t >= 16 && t <= 21) key = true;
        else if (t === 32) this.vps = n;
        else if (t === 33) sps = n;
        else if (t === 34) this.pps = n;
      }
    }
    const ext = this.vext.next(au.timestamp);
    this.lastVideo = { ext, at: this.o.now() };
    if (this.started && this.pending) {
      const d = ext - this.pending.ext;
      if (d === 0) {
        // The same picture split by a stray marker bit: one sample.
        this.pending.nals.push(...au.nals);
        this.pending.key ||= key;
        return;
      }
      if (d < -JUMP_BACK_TICKS || d > JUMP_FWD_TICKS) {
        this.discontinuity(`camera timestamps jumped by ${(d / VIDEO_RATE).toFixed(1)} s`);
      }
    }
    if (sps && key && (!this.sps || !same(sps, this.sps) || !this.init)) {
      const was = this.init;
      this.sps = sps;
      if (was) {
        this.endSession();
        this.init = undefined;
        this.change ??= { reason: "restart", detail: "camera changed the stream format (resolution or profile)" };
      }
    } else if (sps && !this.sps) this.sps = sps;
    if (!this.started) {
      if (!key || !this.sps || !this.pps || (this.codec === "h265" && !this.vps)) return;
      if (!this.init) this.makeInit();
      if (!this.init) return;
      this.started = true;
      this.base = ext;
      this.lastDts = -Infinity;
      this.lastPts = -Infinity;
      this.samples = [];
      this.fragDur = 0;
      const change = this.change;
      this.change = undefined;
      this.o.onInit(this.init.bytes, this.init.info, change);
    }
    if (this.pending) this.finish(this.pending, ext);
    this.pending = { ext, nals: au.nals, key };
  }

  audio(f: AudioFrame): void {
    if (!this.o.audio) return;
    const ext = this.aext.next(f.timestamp);
    if (this.aRef === undefined) {
      // No RTP-Info: assume this frame was captured when it arrived.
      if (!this.lastVideo) return;
      this.vRef = this.lastVideo.ext + ((this.o.now() - this.lastVideo.at) * VIDEO_RATE) / 1000;
      this.aRef = ext;
    }
    if (!this.started) return;
    this.audioQ.push({ ext, data: f.data });
    if (this.audioQ.length > MAX_AUDIO_QUEUE) this.audioQ.shift();
  }

  /** Writes out what is buffered (the held-back last sample gets the previous duration). */
  flushAll(): void {
    this.endSession();
  }

  private endSession(): void {
    if (this.started && this.pending) this.finish(this.pending, this.pending.ext + this.lastDur);
    this.pending = undefined;
    if (this.samples.length) this.emitFragment();
    this.started = false;
    this.audioQ = [];
  }

  /** Ends the session here; the next keyframe starts a new one (gap "restart" with this detail). */
  discontinuity(detail: string): void {
    this.o.onWarn?.("timestamp discontinuity; starting a new recording session", { detail });
    this.endSession();
    this.change = { reason: "restart", detail };
    // Extended time goes on from here; audio must be re-anchored.
    this.aRef = undefined;
    this.vRef = undefined;
    this.aext.reset();
  }

  private finish(p: Pending, nextExt: number): void {
    const pts = p.ext - this.base;
    const nextPts = nextExt - this.base;
    if (pts < this.lastPts) {
      if (!this.bFramesSeen) this.o.onWarn?.("presentation times step back (B-frames): writing composition offsets");
      this.bFramesSeen = true;
      this.reorder = Math.max(this.reorder, this.lastPts - pts);
    }
    this.lastPts = Math.max(this.lastPts, pts);
    const dts = this.lastDts === -Infinity ? pts - this.reorder : Math.max(this.lastDts + 1, pts - this.reorder);
    // Duration to the next sample's decode time (estimated the same way).
    const nextDts = Math.max(dts + 1, nextPts - this.reorder);
    const dur = nextDts - dts;
    // Cut at keyframes, and before a sample that would take the fragment past fragmentMs: parts
    // stay ≤ 500 ms (LL-HLS PART-TARGET), and the cut costs no extra latency (we emit when the
    // sample that would overflow arrives, the moment it would otherwise have been appended).
    if (this.samples.length && (p.key || this.fragDur + dur > this.fragTicks)) this.emitFragment();
    if (!this.samples.length) this.fragDts = dts;
    this.samples.push({ parts: p.nals, duration: dur, keyframe: p.key, cts: pts - dts });
    this.fragDur += dur;
    this.lastDts = dts;
    if (dur > 0 && dur < VIDEO_RATE) this.lastDur = dur;
    if (this.fragDur >= this.fragTicks) this.emitFragment();
  }

  private emitFragment(): void {
    const vid = 1;
    const runs: MuxRun[] = [{ trackId: vid, baseDecodeTime: Math.max(0, this.fragDts + this.reorder), nalPrefix: true, samples: this.samples }];
    const a = this.o.audio;
    if (a && this.audioQ.length && this.aRef !== undefined && this.vRef !== undefined) {
      const endSec = (this.fragDts + this.reorder + this.fragDur) / VIDEO_RATE;
      const originSec = (this.base - this.vRef) / VIDEO_RATE;
      const take: MuxSample[] = [];
      let first: number | undefined;
      while (this.audioQ.length) {
        const f = this.audioQ[0]!;
        const t = (f.ext - this.aRef) / a.clockRate - originSec;
        if (t >= endSec) break;
        this.audioQ.shift();
        if (t < 0) continue;
        if (first === undefined) first = Math.round(t * a.clockRate);
        take.push({ parts: [f.data], duration: 1024, keyframe: true, cts: 0 });
      }
      if (take.length && first !== undefined) runs.push({ trackId: 2, baseDecodeTime: first, nalPrefix: false, samples: take });
    }
    const bytes = muxFragment(++this.seq, runs);
    const info = muxedFragmentInfo(runs, this.timescales, vid);
    this.samples = [];
    this.fragDur = 0;
    this.o.onFragment(bytes, info);
  }

  private makeInit(): void {
    const sps = this.sps!;
    let size: { width: number; height: number };
    let ptl: Uint8Array | undefined;
    try {
      if (this.codec === "h264") size = h264SpsSize(sps);
      else {
        const s = h265Sps(sps);
        size = s;
        ptl = s.ptl;
      }
    } catch (e) {
      this.o.onWarn?.("unreadable SPS; waiting for the next one", { err: (e as Error).message });
      this.sps = undefined;
      return;
    }
    const video: MuxVideoTrack = {
      kind: "video",
      codec: this.codec,
      width: size.width,
      height: size.height,
      sps: [sps],
      pps: [this.pps!],
      ...(this.vps ? { vps: [this.vps] } : {}),
      ...(ptl ? { ptl } : {}),
      timescale: VIDEO_RATE,
    };
    const tracks: MuxTrack[] = [video];
    const a = this.o.audio;
    if (a) tracks.push({ kind: "audio", codec: "aac", sampleRate: a.sampleRate, channels: a.channels, config: a.config, timescale: a.clockRate } satisfies MuxAudioTrack);
    const bytes = muxInit(tracks);
    this.timescales = new Map(tracks.map((t, i) => [i + 1, t.timescale]));
    this.init = { bytes, info: parseInit(bytes), width: size.width, height: size.height };
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
