/**
 * Access units and audio frames → fragmented MP4: an init segment per recording session and
 * fragments of ≤ ~500 ms that start at keyframes where possible (video and audio in one moof).
 *
 * Timing: RTP carries presentation times only. Presentation time (pts) = the RTP timestamp
 * extended past its 32-bit wrap, relative to the session's first keyframe. Decode times are
 * derived from the SPS's reorder depth D (max_num_reorder_frames / sps_max_num_reorder_pics;
 * 0 for baseline, intra-only and POC type 2; assumed 2 when an H.264 SPS does not say):
 * dts of the i-th frame in decode order = the (i − D)-th smallest pts seen (the first D frames
 * get D frame durations before the keyframe). So dts is strictly increasing, never above pts,
 * equal to pts without B-frames, and each sample lasts until the next one's dts: no packing,
 * no negative composition offsets. Presentation is delayed by D frames in track time (audio
 * is shifted by the same amount). A frame that does not fit — pts at or below the last
 * decode time (a backward step in a stream without B-frames, or reordering deeper than D),
 * a repeated pts, a jump > 5 s forward — is a discontinuity: the session ends there and a new
 * one starts at the next keyframe (new init, "restart" gap). Timing is never bent to fit.
 * Audio is placed on the video timeline through the PLAY answer's RTP-Info (same instant for
 * every track), else by arrival time.
 *
 * A new session (new init segment, decode time from 0, caller ends the previous one with a
 * "restart" gap) starts when the SPS (resolution/profile) changes in-band, or when timestamps
 * jump (camera restart, SSRC change): writing across such a jump would break the timing.
 */
import { muxFragment, muxInit, muxedFragmentInfo, parseInit, type FragmentInfo, type FragmentPool, type InitInfo, type MuxAudioTrack, type MuxRun, type MuxSample, type MuxTrack, type MuxVideoTrack } from "../../../lib/mp4/index.ts";
import { h264Sps, h265Sps } from "./codec.ts";
import type { AccessUnit, AudioFrame } from "./rtp.ts";

export interface SessionChange {
  reason: "restart";
  detail: string;
}

export interface FragmenterAudio {
  codec: "aac" | "flac";
  sampleRate: number;
  channels: number;
  /** AudioSpecificConfig (aac) or dfLa metadata blocks (flac). */
  config: Uint8Array;
  clockRate: number;
}

export interface FragmenterOptions {
  codec: "h264" | "h265";
  /** Parameter sets from the SDP (sprop-*), if any. */
  vps?: Uint8Array[];
  sps?: Uint8Array[];
  pps?: Uint8Array[];
  /** The audio track: AAC frames (RFC 3640 or LATM) or FLAC frames (from G.711). */
  audio?: FragmenterAudio;
  fragmentMs?: number;
  now: () => number;
  onInit: (bytes: Uint8Array, info: InitInfo, change?: SessionChange) => void;
  onFragment: (bytes: Uint8Array, info: FragmentInfo) => void;
  onWarn?: (msg: string, fields?: Record<string, unknown>) => void;
  /**
   * Called once for every NAL unit of every access unit given to video(), after its last read
   * (when its fragment is muxed, or when the frame is dropped): the depacketizer writes it over
   * afterwards (VideoDepacketizer.release). Parameter sets the fragmenter keeps are copies.
   */
  releaseNal?: (nal: Uint8Array) => void;
  /**
   * Fragments are muxed into this pool's buffers (lib/mp4/pool.ts), each handed to onFragment
   * held once: whoever called must release it (releaseFragment) once the fragment is written and
   * delivered. Without a pool each fragment is a new buffer of its own.
   */
  pool?: FragmentPool;
}

const VIDEO_RATE = 90_000;
const JUMP_FWD_TICKS = 5 * VIDEO_RATE;
const MAX_AUDIO_QUEUE = 512;
/** Reorder depth assumed when an H.264 SPS (main/high, no bitstream_restriction) does not say. */
const ASSUMED_REORDER = 2;
/** Deepest reordering followed after a violation (H.264/H.265 allow at most 16). */
const MAX_REORDER = 16;

interface Held {
  /** Extended RTP timestamp (presentation time). */
  ext: number;
  nals: Uint8Array[];
  key: boolean;
  /** Decode time relative to the session base; undefined until known. */
  dts: number | undefined;
  /** Stamped like the previous picture; its time (and the previous one's duration) waits for the next. */
  dup?: boolean;
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
  private init: { bytes: Uint8Array; info: InitInfo; width: number; height: number; reorder: number | undefined } | undefined;
  private timescales = new Map<number, number>();
  private started = false;
  /** The session's first fragment is not cut yet (it is cut after its keyframe alone, see finish()). */
  private opening = false;
  private change: SessionChange | undefined;
  private base = 0;
  /** Frames whose duration is not known yet (the next frame's dts decides it), decode order. */
  private held: Held[] = [];
  /** Presentation times (relative to base) not yet used as a decode time, ascending. */
  private ptsPool: number[] = [];
  /** Frames in this session so far, and the presentation times of the first 2D + 1. */
  private frames = 0;
  private early: number[] = [];
  /** Decode time of the last frame given one (relative to base). */
  private lastDts = -Infinity;
  private maxPts = -Infinity;
  /** Reorder depth D of this session, in frames; and whether the SPS stated it. */
  private reorder = 0;
  private reorderKnown = true;
  /** Raised after reordering deeper than assumed (SPS silent): used by the next session. */
  private reorderFloor = 0;
  /** Track time of pts 0 (= D frame durations): decode times start at 0. */
  private shift = 0;
  private lastDur = 3000;
  private samples: MuxSample[] = [];
  private fragDts = 0;
  /** Latest presentation time in the fragment being built (relative to base). */
  private fragMaxPts = -Infinity;
  private fragDur = 0;
  private seq = 0;
  private audioQ: { ext: number; data: Uint8Array; duration: number }[] = [];
  /** RTP-Info anchors (same instant on both clocks), or arrival-based estimates. */
  private vRef: number | undefined;
  private aRef: number | undefined;
  private lastVideo: { ext: number; at: number } | undefined;
  /** Presentation time shared by the last two pictures (the later one got +1 tick), until the next. */
  private dupOf: number | undefined;

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
        else if (t === 8) this.pps = kept(n, this.pps);
      } else {
        if (t >= 16 && t <= 21) key = true;
        else if (t === 32) this.vps = kept(n, this.vps);
        else if (t === 33) sps = n;
        else if (t === 34) this.pps = kept(n, this.pps);
      }
    }
    let ext = this.vext.next(au.timestamp);
    this.lastVideo = { ext, at: this.o.now() };
    const last = this.held.at(-1);
    if (this.started && last) {
      if (ext === last.ext) {
        if (!this.startsPicture(au.nals)) {
          // The same picture split by a stray marker bit: one sample.
          last.nals.push(...au.nals);
          last.key ||= key;
          return;
        }
        // A new picture stamped with the previous one's time (seen from live encoders): two
        // samples cannot share a presentation time. One tick later for now; without B-frames
        // it moves halfway to the next picture once that arrives (players and ffmpeg's
        // frame-rate based timing keep the two frames apart then).
        this.dupOf = this.reorder === 0 ? ext : undefined;
        ext += 1;
      } else if (last.dup && this.dupOf !== undefined && last.dts !== undefined && ext > last.ext + 1) {
        const mid = this.dupOf + Math.floor((ext - this.dupOf) / 2);
        last.ext = mid;
        last.dts = this.lastDts = mid - this.base;
        this.maxPts = Math.max(this.maxPts, last.dts);
      }
      if (this.dupOf === undefined || ext !== this.dupOf + 1) for (const h of this.held) h.dup = false;
      const why = this.misfit(ext - this.base);
      if (why) this.discontinuity(why);
    }
    if (sps && key && (!this.sps || !same(sps, this.sps) || !this.init)) {
      const was = this.init;
      this.sps = kept(sps, this.sps);
      if (was) {
        this.endSession();
        this.init = undefined;
        this.change ??= { reason: "restart", detail: "camera changed the stream format (resolution or profile)" };
      }
    } else if (sps && !this.sps) this.sps = kept(sps, this.sps);
    if (!this.started) {
      if (!key || !this.sps || !this.pps || (this.codec === "h265" && !this.vps)) return this.drop(au.nals);
      if (!this.init) this.makeInit();
      if (!this.init) return this.drop(au.nals);
      this.started = true;
      this.opening = true;
      this.base = ext;
      this.lastDts = -Infinity;
      this.maxPts = -Infinity;
      this.held = [];
      this.ptsPool = [];
      this.frames = 0;
      this.early = [];
      this.reorder = Math.max(this.init.reorder ?? ASSUMED_REORDER, this.reorderFloor);
      this.reorderKnown = this.init.reorder !== undefined;
      this.shift = 0;
      this.samples = [];
      this.fragDur = 0;
      const change = this.change;
      this.change = undefined;
      this.o.onInit(this.init.bytes, this.init.info, change);
    }
    this.place({ ext, nals: au.nals, key, dts: undefined, ...(this.dupOf !== undefined && ext === this.dupOf + 1 ? { dup: true } : {}) });
    if (!this.held.at(-1)?.dup) this.dupOf = undefined;
  }

  /** A frame not recorded (before a session's first keyframe): its NAL units are released. */
  private drop(nals: Uint8Array[]): void {
    const release = this.o.releaseNal;
    if (release) for (const n of nals) release(n);
  }

  /** Whether these NAL units begin a new picture (a slice with first_mb_in_slice = 0 / first_slice_segment_in_pic_flag). */
  private startsPicture(nals: Uint8Array[]): boolean {
    for (const n of nals) {
      if (this.codec === "h264") {
        const t = n[0]! & 0x1f;
        if (t >= 1 && t <= 5) return n.length > 1 && (n[1]! & 0x80) !== 0;
      } else {
        const t = (n[0]! >> 1) & 0x3f;
        if (t < 32) return n.length > 2 && (n[2]! & 0x80) !== 0;
      }
    }
    return false;
  }

  /** Why a frame with this pts cannot follow in this session (undefined: it fits). */
  private misfit(pts: number): string | undefined {
    if (pts - this.maxPts > JUMP_FWD_TICKS) return `camera timestamps jumped by ${((pts - this.maxPts) / VIDEO_RATE).toFixed(1)} s`;
    const floor = this.frames < this.reorder ? 0 : this.lastDts;
    if (pts > floor && !this.ptsPool.includes(pts)) return undefined;
    const step = ((pts - this.maxPts) / VIDEO_RATE).toFixed(3);
    if (pts < this.maxPts - VIDEO_RATE) return `camera timestamps jumped by ${step} s`;
    if (!this.reorderKnown && this.reorder < MAX_REORDER) {
      // The SPS did not say how deep B-frames reorder and they reorder deeper than assumed.
      this.reorderFloor = Math.min(MAX_REORDER, this.reorder + 1);
      return `frames reordered deeper than ${this.reorder} (presentation time stepped back ${step} s)`;
    }
    return this.reorder === 0
      ? `camera timestamps stepped back ${step} s in a stream without B-frames`
      : `camera timestamps stepped back ${step} s, deeper than the stream's reordering (${this.reorder} frames)`;
  }

  /** Assigns decode times (see the header) and writes out every frame whose duration is known. */
  private place(f: Held): void {
    const pts = f.ext - this.base;
    this.maxPts = Math.max(this.maxPts, pts);
    const pool = this.ptsPool;
    let i = pool.length;
    while (i > 0 && pool[i - 1]! > pts) i--;
    pool.splice(i, 0, pts);
    this.held.push(f);
    const n = this.frames++;
    const d = this.reorder;
    if (n <= 2 * d) this.early.push(pts);
    if (n >= d) this.lastDts = f.dts = pool.shift()!;
    // The first D frames decode before the keyframe is shown, one frame duration apart; after
    // 2D + 1 frames the smallest step between their presentation times is one frame.
    if (d > 0 && n === 2 * d) this.placeFirst(d);
    this.drain();
  }

  private placeFirst(d: number): void {
    const sorted = [...this.early].sort((a, b) => a - b);
    let dur = Infinity;
    for (let k = 1; k < sorted.length; k++) dur = Math.min(dur, sorted[k]! - sorted[k - 1]!);
    if (!(dur > 0 && dur < VIDEO_RATE)) dur = this.lastDur;
    this.shift = d * dur;
    for (let k = 0; k < d; k++) this.held[k]!.dts = (k - d) * dur;
  }

  private drain(): void {
    while (this.held.length >= 2 && this.held[0]!.dts !== undefined && this.held[1]!.dts !== undefined && !this.held[1]!.dup) {
      const h = this.held.shift()!;
      this.finish(h, this.held[0]!.dts! - h.dts!);
    }
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
    this.audioQ.push({ ext, data: f.data, duration: f.duration ?? 1024 });
    if (this.audioQ.length > MAX_AUDIO_QUEUE) this.audioQ.shift();
  }

  /** Writes out what is buffered (the held-back last sample gets the previous duration). */
  flushAll(): void {
    this.endSession();
  }

  private endSession(): void {
    for (const h of this.held) h.dup = false;
    this.dupOf = undefined;
    if (this.started && this.held.length) {
      if (this.held[0]!.dts === undefined) {
        // The session ends within its first 2D frames: decode times as if D were that small.
        const d = Math.min(this.reorder, this.held.filter((h) => h.dts === undefined).length);
        for (const h of this.held.slice(d)) h.dts ??= this.ptsPool.shift()!;
        this.placeFirst(d);
      }
      this.drain();
      const h = this.held.shift()!;
      this.finish(h, this.lastDur);
    }
    this.held = [];
    this.ptsPool = [];
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

  private finish(h: Held, dur: number): void {
    const dts = h.dts!;
    const pts = h.ext - this.base;
    // Cut at keyframes, and before a sample that would take the fragment past fragmentMs: parts
    // stay ≤ 500 ms (LL-HLS PART-TARGET), and the cut costs no extra latency (we emit when the
    // sample that would overflow arrives, the moment it would otherwise have been appended).
    // With B-frames a time cut waits for a clean point: no frame from here on is shown before
    // the fragment's last-shown frame (a window ending at this fragment would otherwise lack
    // B-frames shown before its end). Later frames all come after the last decode time given
    // out (misfit() ends the session otherwise); the frames held back are checked one by one.
    const m = this.fragMaxPts;
    const clean = pts > m && m <= this.lastDts && this.heldAfter(m);
    if (this.samples.length && (h.key || (clean && this.fragDur + dur > this.fragTicks))) this.emitFragment();
    if (!this.samples.length) (this.fragDts = dts), (this.fragMaxPts = -Infinity);
    this.samples.push({ parts: h.nals, duration: dur, keyframe: h.key, cts: pts - dts });
    this.fragDur += dur;
    this.fragMaxPts = Math.max(this.fragMaxPts, pts);
    if (dur > 0 && dur < VIDEO_RATE) this.lastDur = dur;
    // A session's first fragment is its keyframe alone: recording (and a live viewer's first
    // picture) starts as soon as that frame is complete, not a fragment (~500 ms) later — after
    // a crash or a camera reconnect that is the difference between recording within 1 s or not.
    // One extra moof (~100 B) per session. With B-frames the usual clean-point cut applies.
    if (this.reorder === 0 && (this.fragDur >= this.fragTicks || this.opening)) this.emitFragment();
    this.opening = false;
  }

  /** Whether every held-back frame is shown after `pts` (a loop: this runs for every frame). */
  private heldAfter(pts: number): boolean {
    const held = this.held;
    for (let i = 0; i < held.length; i++) if (held[i]!.ext - this.base <= pts) return false;
    return true;
  }

  private emitFragment(): void {
    const vid = 1;
    const runs: MuxRun[] = [{ trackId: vid, baseDecodeTime: this.fragDts + this.shift, nalPrefix: true, samples: this.samples }];
    const a = this.o.audio;
    if (a && this.audioQ.length && this.aRef !== undefined && this.vRef !== undefined) {
      // Audio track time = video presentation time: pts 0 is at `shift` on both tracks.
      const endSec = (this.fragDts + this.shift + this.fragDur) / VIDEO_RATE;
      const originSec = (this.base - this.vRef - this.shift) / VIDEO_RATE;
      const take: MuxSample[] = [];
      let first: number | undefined;
      while (this.audioQ.length) {
        const f = this.audioQ[0]!;
        const t = (f.ext - this.aRef) / a.clockRate - originSec;
        if (t >= endSec) break;
        this.audioQ.shift();
        if (t < 0) continue;
        if (first === undefined) first = Math.round(t * a.clockRate);
        take.push({ parts: [f.data], duration: f.duration, keyframe: true, cts: 0 });
      }
      if (take.length && first !== undefined) runs.push({ trackId: 2, baseDecodeTime: first, nalPrefix: false, samples: take });
    }
    // The info goes with the bytes into the muxer: the store's writer then indexes them without parsing.
    const info = muxedFragmentInfo(runs, this.timescales, vid);
    const bytes = muxFragment(++this.seq, runs, info, this.o.pool);
    // Muxed (copied into `bytes`): the video samples' NAL units are free for the depacketizer.
    const release = this.o.releaseNal;
    if (release) for (const s of this.samples) for (const n of s.parts) release(n);
    this.samples = [];
    this.fragDur = 0;
    this.o.onFragment(bytes, info);
  }

  private makeInit(): void {
    const sps = this.sps!;
    let size: { width: number; height: number; reorder: number | undefined };
    let ptl: Uint8Array | undefined;
    try {
      if (this.codec === "h264") size = h264Sps(sps);
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
    if (a) tracks.push({ kind: "audio", codec: a.codec, sampleRate: a.sampleRate, channels: a.channels, config: a.config, timescale: a.clockRate } satisfies MuxAudioTrack);
    const bytes = muxInit(tracks);
    this.timescales = new Map(tracks.map((t, i) => [i + 1, t.timescale]));
    this.init = { bytes, info: parseInit(bytes), width: size.width, height: size.height, reorder: size.reorder };
  }
}

/** A parameter set to keep: `n` copied (it is the depacketizer's, released with its frame), or the copy already kept if equal. */
function kept(n: Uint8Array, had: Uint8Array | undefined): Uint8Array {
  return had && same(n, had) ? had : n.slice();
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
