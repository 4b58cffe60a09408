/**
 * One stream's segment writer: cuts the fragment stream into segment files at keyframes,
 * writes every fragment at once and makes it durable at the store's next durability tick (one
 * fsync round for all streams, see `sync()`), commits each closed segment (file fsync → dir
 * fsync → index row) in the background, assigns wall-clock times, bounds its backlog, and turns
 * every stop and every hole into a gap with a reason.
 */
import { existsSync, renameSync } from "node:fs";
import { open, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Clock } from "../clock.ts";
import { startMark } from "../starttrace.ts";
import type { Logger } from "../log/index.ts";
import type { FragmentInfo, GapReason, InitInfo, SegmentRecord, StreamKind } from "./types.ts";
import type { JournalGap } from "./journal.ts";
import { mkdirDurable, parseSegmentPath, segmentId, segmentRelPath } from "./layout.ts";
import { isNoSpace } from "./errors.ts";
import { encodeFragmentTable, fragmentEntry, initLength, readBox, retimeFragmentParts, retimeMuxed, type FragEntry } from "../mp4/index.ts";

export interface SegmentWriter {
  init(bytes: Uint8Array, info: InitInfo): void;
  /**
   * receivedAtMs: host time of arrival. receivedMonoMs: the monotonic clock at arrival, when the
   * fragment reaches the writer later than it arrived (held while the store opened); host-clock
   * steps are told from the two, so a held backlog must not look like one.
   */
  fragment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number, receivedMonoMs?: number): Promise<void>;
  end(reason: GapReason, detail?: string): Promise<void>;
  current(): SegmentRecord | undefined;
  status(): WriterStatus;
  /** Resolves once everything accepted so far is written and every closed segment is committed (durable + indexed). */
  settled(): Promise<void>;
  onCommit?: (seg: SegmentRecord) => void;
}

/** What the writer is doing, for /health and /cameras. */
export interface WriterStatus {
  /**
   * writing: fragments reach the disk; lagging: written, but fsyncs take longer than the loss
   * budget (a power cut now would lose more than maxLagMs); idle: no session; disk-full:
   * fragments are refused (ENOSPC/quota, nothing left to delete); disk-slow: writes are stuck,
   * fragments are dropped with a gap until the backlog drains.
   */
  state: "writing" | "lagging" | "idle" | "disk-full" | "disk-slow";
  /** Age of the oldest fragment received but not yet durable (0 = everything is on disk). */
  lagMs: number;
  /** Fragments accepted but not yet written (the in-memory backlog). */
  queued: number;
  /** Fragments dropped since start: before the first keyframe, disk full, or disk too slow. */
  dropped: number;
  /** The session's audio track, when it has one: "missing" = no audio samples for a while although video records. */
  audio?: { codec: string; state: "ok" | "missing"; missingMs: number };
}

/** What a writer needs from its store. */
export interface WriterHost {
  readonly root: string;
  readonly clock: Clock;
  readonly segmentDurationMs: number;
  /** Count bytes against the quota; throws a QuotaError when they do not fit. */
  reserve(bytes: number): void;
  release(bytes: number): void;
  /** Run store-wide retention to make room for `bytes`; true if anything was freed. */
  makeRoom(bytes: number): Promise<boolean>;
  /** Below the free-space floor: retention should run before a new file is opened. */
  lowOnSpace(): Promise<boolean>;
  /** Writes the closed segment's index row, with its encoded fragment table (null: none). */
  commitRow(seg: SegmentRecord, frags: Uint8Array | null): Promise<void>;
  saveGap(g: JournalGap): Promise<void>;
  /** Moves this stream's segments starting at/after fromMs by shiftMs (files renamed, rows replaced); returns them moved, by start. */
  refile(cameraId: string, stream: StreamKind, fromMs: number, shiftMs: number): Promise<SegmentRecord[]>;
  /** The newest gap of this stream with this reason that ends at or before `atMs`. */
  lastGap(cameraId: string, stream: StreamKind, reason: GapReason, atMs: number): Promise<JournalGap | undefined>;
  /** A host-clock step seen by a writer (for /health). */
  noteClockStep(stepMs: number): void;
  /** Writes the parts back to back at `position` of the file (a short write goes on; nothing written = ENOSPC). */
  append(fh: FileHandle, parts: Uint8Array[], position: number): Promise<void>;
  /** fsync of a segment file and of a directory (injectable: tests model a slow disk). */
  syncFile(fh: FileHandle): Promise<void>;
  syncDir(dir: string): Promise<void>;
  /** One durability round now, as the next tick would run it (file fsyncs or one volume sync). */
  syncNow(w: { sync(): void }): void;
  /** The loss budget: beyond this writer lag (a fragment not yet durable) the state is "lagging". */
  readonly maxLagMs: number;
  /**
   * This writer has bytes no fsync covers yet: the store arms its next durability tick (none
   * runs while nothing waits, so an idle or offline recorder does not wake up for it). `atOnce`:
   * none of this stream's fsyncs is in flight, so where the store syncs right after each write
   * (durabilityMs 0) one may start when this turn is done; false after a failed fsync (the retry
   * waits) or while one is in flight (a slow disk: the next one groups what arrives meanwhile).
   */
  wrote?(atOnce: boolean): void;
}

/** Host time and media time may disagree by this much before the segment start is re-anchored. */
const REANCHOR_MS = 2000;
/**
 * A session's wall-clock anchor comes from its first fragment's arrival, which can be late (a
 * busy event loop at start reads frames out of a backlog; a one-frame first fragment carries
 * all of that delay). Over this much media time from the anchor, every fragment's arrival may
 * move the anchor (and the first segment's start) earlier: arrivals are only ever late, so the
 * earliest one is the best estimate. Bounded so that a camera clock running fast cannot drag it.
 */
const ANCHOR_SETTLE_MS = 2000;
/** Media time jumping back, or forward by more than this, ends the segment (camera reset). */
const JUMP_MS = 2000;
/** Wall time moving this much more or less than monotonic time between two fragments is a host-clock step. */
const STEP_MS = 2000;
/** A hole longer than this between two segments of a stream needs a gap record (the timeline merges shorter ones). */
const HOLE_MS = 1500;
/** Video media time without any audio sample (in a session that has audio) before audio counts as lost. */
const AUDIO_LOSS_MS = 3000;
/** fsyncs of one file allowed in flight at once: with a slow disk the next tick must not wait for the last. */
const MAX_SYNCS_IN_FLIGHT = 4;
/** In-memory backlog bound: fragments accepted but not yet written, by count and by age. */
const MAX_QUEUED = 64;
const QUEUE_MAX_AGE_MS = 5000;

interface OpenSegment {
  fh: FileHandle;
  rec: SegmentRecord;
  mediaStart: number;
  mediaEnd: number;
  /** Media time (ms) subtracted from every fragment written to this file, so the file starts at 0. */
  rebaseMs: number;
  hasher: Bun.CryptoHasher;
  /** Bytes known to be on stable storage (a completed fsync covered them). */
  durable: number;
  /** Bytes an fsync already started (or finished) for; beyond it the next tick has work. */
  covered: number;
  /** The directory fsync that makes the new file's entry survive power loss. */
  dirSynced: Promise<void>;
  syncs: Set<Promise<void>>;
  /** Fragments written but not yet durable: end offset and when they arrived (performance.now()). */
  pending: { end: number; arrived: number }[];
  /** The file's fragment table so far (stored with the index row); null once a fragment did not fit the table's model. */
  frags: FragEntry[] | null;
  /** Length of the init as playback reads it (up to the end of moov). */
  initLen: number;
  /**
   * This segment anchored its session and its start may still move earlier (settleStart):
   * never before `floor` (the stream's previous end, the open gap's start), only while the
   * media is within `untilMedia`; `gap` is the gap this segment closed (its end moves along).
   */
  settle?: { floor: number; untilMedia: number; gap?: JournalGap };
}

export class StreamWriter implements SegmentWriter {
  onCommit?: (seg: SegmentRecord) => void;
  private initBytes: Uint8Array | undefined;
  private initInfo: InitInfo | undefined;
  private anchor: { wall: number; media: number } | null = null;
  private seg: OpenSegment | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  /** Closed segments being made durable and indexed, in order, off the fragment path. */
  private committing: Promise<unknown> = Promise.resolve();
  private readonly detached = new Set<OpenSegment>();
  /** Arrival times (performance.now()) of fragments accepted but not yet written (FIFO). */
  private readonly queued: number[] = [];
  private diskFull = false;
  private shedding = false;
  /** Wall − monotonic at the last fragment: a change beyond STEP_MS is a host-clock step. */
  private lastDrift: number | undefined;
  /** Why the next segment may start after a hole (recorded as a gap when it does). */
  private holeReason: { reason: GapReason; detail: string } | undefined;
  /** A forward clock step this session: what was recorded since is filed `deltaMs` ahead if the clock later steps back. */
  private forwardStep: { gapStartMs: number; fromMs?: number; deltaMs: number } | undefined;
  /** The first segment of this process has not been opened yet (previous footage may be in the future). */
  private firstOpen = true;
  /** Audio of this session: the video media time at which audio samples were last seen. */
  private audio: { trackId: number; codec: string; lastAtVideoMs?: number; videoEndMs?: number; missing: boolean } | undefined;
  private lastNoSpaceLog = 0;
  private lastSyncErrorLog = 0;
  /** Fragments dropped because no keyframe had started a segment yet, the disk was full or too slow. */
  dropped = 0;

  constructor(
    private readonly host: WriterHost,
    private readonly log: Logger,
    readonly cameraId: string,
    readonly stream: StreamKind,
    /** End of the last committed segment of this stream (ms), if any. */
    private lastEndMs: number | undefined,
    /** Gap still open from before (crash, camera offline, clean stop). */
    private pendingGap: JournalGap | undefined,
  ) {}

  /** The gap open right now (recording stopped and not resumed). */
  openGap(): JournalGap | undefined {
    return this.pendingGap;
  }

  init(bytes: Uint8Array, info: InitInfo): void {
    this.serial(async () => {
      // A new session without end(): keep what was written, the new one starts its own file.
      if (this.seg) await this.commit();
      this.initBytes = bytes;
      this.initInfo = info;
      this.anchor = null;
      const a = info.tracks.find((t) => t.kind === "audio");
      this.audio = a ? { trackId: a.trackId, codec: a.codec, missing: false } : undefined;
    }).catch((e) => this.log.error("could not close the previous segment at init", { err: e as Error }));
  }

  fragment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number, receivedMonoMs?: number): Promise<void> {
    // Lag is measured on the monotonic clock: it is about elapsed time, not what the host clock says.
    // (From here: time a fragment was held before the store opened is not the disk's lag.)
    const arrived = performance.now();
    if (this.shed(info, arrived)) return Promise.resolve();
    this.queued.push(arrived);
    const mono = receivedMonoMs ?? this.host.clock.monotonic?.();
    return this.serial(async () => {
      this.queued.shift();
      if (!this.initBytes) throw new Error(`store: fragment for ${this.cameraId}/${this.stream} before init()`);
      this.noteAudio(info);
      if (mono !== undefined) {
        const drift = receivedAtMs - mono;
        const step = this.lastDrift === undefined ? 0 : drift - this.lastDrift;
        this.lastDrift = drift;
        if (Math.abs(step) > STEP_MS) await this.clockStepped(Math.round(step));
      }
      const s = this.seg;
      if (s) {
        const jumped = info.startMs < s.mediaEnd - 1 || info.startMs > s.mediaEnd + JUMP_MS;
        if (jumped) {
          this.log.warn("media time jumped; closing segment", { from: s.mediaEnd, to: info.startMs });
          void this.commit();
          this.anchor = null;
        } else if (info.keyframe && info.startMs - s.mediaStart >= this.host.segmentDurationMs) {
          void this.commit(); // made durable and indexed in the background; the next file opens now
        }
      }
      if (!this.seg) {
        if (!info.keyframe) {
          this.dropped++;
          return;
        }
        await this.openSegment(bytes, info, receivedAtMs, arrived);
        return;
      }
      await this.append(bytes, info, arrived);
      await this.settleStart(this.seg, info, receivedAtMs);
    });
  }

  /**
   * Backlog bound. True = drop this fragment: the in-memory queue of fragments not yet written
   * is full (MAX_QUEUED) or its oldest has waited longer than QUEUE_MAX_AGE_MS — writes, not
   * fsyncs, are stuck. The open segment is closed and a "disk-slow" gap opened; the next
   * keyframe once the queue has drained starts a new segment and closes the gap. (A slow
   * fsync alone does not queue anything: it shows as writer lag, state "lagging".)
   */
  private shed(info: FragmentInfo, arrived: number): boolean {
    const age = this.queued.length ? Math.round(arrived - this.queued[0]!) : 0;
    const behind = this.queued.length >= MAX_QUEUED || age > QUEUE_MAX_AGE_MS;
    if (this.shedding) {
      if (this.queued.length === 0 && info.keyframe && this.initBytes) {
        this.shedding = false;
        this.log.info("disk caught up; recording resumed", { lagMs: Math.round(this.lagMs(arrived)) });
        return false;
      }
      this.dropped++;
      return true;
    }
    if (!behind) return false;
    this.shedding = true;
    this.dropped++;
    const detail = `writes are ${age} ms behind (${this.queued.length} fragments queued); fragments dropped until the disk catches up`;
    this.log.error("disk too slow for the recording; dropping fragments", { queuedMs: age, queued: this.queued.length });
    this.serial(async () => {
      if (this.seg) void this.commit();
      if (!this.pendingGap) await this.beginGap("disk-slow", detail);
    }).catch((e) => this.log.error("could not record the disk-slow gap", { err: e as Error }));
    return true;
  }

  /**
   * Audio loss is silent in the media (video keeps playing): watch for it. Compared on the
   * video's media time, so separate audio and video moofs both count.
   */
  private noteAudio(info: FragmentInfo): void {
    const a = this.audio;
    if (!a) return;
    if (info.runs.some((r) => r.trackId === a.trackId && r.sampleCount > 0)) {
      if (a.missing) this.log.info("audio is back", { codec: a.codec, missingMs: Math.round((a.videoEndMs ?? 0) - (a.lastAtVideoMs ?? 0)) });
      a.missing = false;
      a.lastAtVideoMs = a.videoEndMs ?? info.startMs;
      return;
    }
    if (!info.hasReferenceTrack) return;
    a.videoEndMs = info.startMs + info.durationMs;
    a.lastAtVideoMs ??= info.startMs;
    if (!a.missing && a.videoEndMs - a.lastAtVideoMs > AUDIO_LOSS_MS) {
      a.missing = true;
      this.log.warn("audio lost: no audio samples while video records", { codec: a.codec, forMs: Math.round(a.videoEndMs - a.lastAtVideoMs) });
    }
  }

  /** Age of the oldest fragment received but not yet durable, at `now`. */
  private lagMs(now: number): number {
    let oldest = this.queued[0] ?? Infinity;
    for (const s of [this.seg, ...this.detached]) if (s?.pending.length) oldest = Math.min(oldest, s.pending[0]!.arrived);
    return oldest === Infinity ? 0 : Math.max(0, now - oldest);
  }

  status(): WriterStatus {
    const lagMs = Math.round(this.lagMs(performance.now()));
    const state = this.diskFull ? "disk-full" : this.shedding ? "disk-slow" : !this.initBytes ? "idle" : lagMs > this.host.maxLagMs ? "lagging" : "writing";
    const a = this.audio;
    const audio = a && { codec: a.codec, state: a.missing ? ("missing" as const) : ("ok" as const), missingMs: a.missing ? Math.round((a.videoEndMs ?? 0) - (a.lastAtVideoMs ?? 0)) : 0 };
    return { state, lagMs, queued: this.queued.length, dropped: this.dropped, ...(audio ? { audio } : {}) };
  }

  /**
   * One durability tick (called by the store for every stream at once): fsync what this stream
   * wrote since the last tick. Does not wait for a previous tick's fsync — a slow disk gets
   * overlapping fsyncs, so a fragment is durable within one tick + one fsync of arriving.
   */
  sync(): void {
    const s = this.seg;
    // Nothing that a started fsync does not already cover: another one would only wake the disk.
    if (!s || s.pending.length === 0 || s.rec.bytes <= s.covered || s.syncs.size >= MAX_SYNCS_IN_FLIGHT) return;
    const upto = s.rec.bytes;
    s.covered = Math.max(s.covered, upto);
    let failed = false;
    const p: Promise<void> = (async () => {
      await this.host.syncFile(s.fh);
      await s.dirSynced;
      markDurable(s, upto);
    })()
      .catch((e) => {
        // Not durable: the next tick tries again (as it would for bytes written since).
        failed = true;
        this.uncover(s);
        const now = this.host.clock.now();
        if (now - this.lastSyncErrorLog > 10_000) {
          this.lastSyncErrorLog = now;
          this.log.error("fsync failed; recorded fragments may not survive a power cut", { err: e as Error });
        }
      })
      .finally(() => {
        s.syncs.delete(p);
        // Bytes written while this fsync was in flight need not wait for the next tick once none
        // is (a failed one's retry does wait: uncover armed it).
        if (!failed && s === this.seg && this.unsynced()) this.host.wrote?.(!this.syncing());
      });
    s.syncs.add(p);
  }

  /**
   * For a durability tick that syncs the whole volume (syncfs) instead of each file: what this
   * stream has written so far; the returned function, called once that sync has returned,
   * marks it durable (after the new file's directory entry is). Null when nothing is pending.
   * `failed` undoes the mark's claim when that sync failed (the next tick covers the bytes).
   */
  volumeMark(): ((() => Promise<void>) & { failed(): void }) | null {
    const s = this.seg;
    if (!s || s.pending.length === 0) return null;
    const upto = s.rec.bytes;
    s.covered = Math.max(s.covered, upto);
    return Object.assign(
      async () => {
        await s.dirSynced;
        markDurable(s, upto);
      },
      { failed: () => this.uncover(s) },
    );
  }

  /** Whether an fsync of the open segment is in flight. */
  syncing(): boolean {
    return !!this.seg && this.seg.syncs.size > 0;
  }

  /** Whether the open segment holds bytes that no started fsync covers (the store's next tick has work). */
  unsynced(): boolean {
    const s = this.seg;
    return !!s && s.pending.length > 0 && s.rec.bytes > s.covered;
  }

  /** An fsync failed: what it covered but did not make durable waits for the next tick again. */
  private uncover(s: OpenSegment): void {
    s.covered = Math.min(s.covered, s.durable);
    if (s === this.seg) this.host.wrote?.(false);
  }

  end(reason: GapReason, detail?: string): Promise<void> {
    return this.serial(async () => {
      if (this.seg) await this.commit();
      await this.committing;
      this.initBytes = undefined;
      this.initInfo = undefined;
      this.anchor = null;
      this.audio = undefined;
      if (!this.pendingGap) await this.beginGap(reason, detail);
    });
  }

  current(): SegmentRecord | undefined {
    return this.seg ? { ...this.seg.rec, open: true } : undefined;
  }

  /** Closed segments still being committed (no index row yet); queries show them like rows. */
  closing(): SegmentRecord[] {
    return [...this.detached].map((s) => ({ ...s.rec }));
  }

  settled(): Promise<void> {
    return this.idle();
  }

  /** Waits for queued work and commits; used by the store before it closes. */
  idle(): Promise<void> {
    return this.serial(async () => {
      await this.committing;
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async beginGap(reason: GapReason, detail?: string): Promise<void> {
    const g: JournalGap = { cameraId: this.cameraId, stream: this.stream, startMs: this.lastEndMs ?? this.host.clock.now(), endMs: null, reason };
    if (detail) g.detail = detail;
    this.pendingGap = g;
    await this.host.saveGap(g);
  }

  /**
   * The host clock stepped by `stepMs` between two fragments. The segment ends here, the next
   * one starts at the new host time, and the hole (forward step) gets a "clock-step" gap. A
   * step back that undoes a forward step of this session moves what was recorded in between
   * back to where it belongs; any other step back still never pins new footage to a future end.
   */
  private async clockStepped(stepMs: number): Promise<void> {
    const s = (Math.abs(stepMs) / 1000).toFixed(1);
    this.log.warn("host clock stepped; the recording follows the new host time", { stepMs });
    this.host.noteClockStep(stepMs);
    if (this.seg) await this.commit();
    this.anchor = null;
    if (stepMs > 0) {
      this.forwardStep = { gapStartMs: this.lastEndMs ?? this.host.clock.now() - stepMs, deltaMs: stepMs };
      this.holeReason = { reason: "clock-step", detail: `host clock stepped forward ${s} s` };
      return;
    }
    const fwd = this.forwardStep;
    this.forwardStep = undefined;
    if (fwd?.fromMs !== undefined && Math.abs(fwd.deltaMs + stepMs) <= STEP_MS) {
      await this.undoForwardStep(fwd.gapStartMs, fwd.fromMs, stepMs, `host clock stepped back ${s} s, undoing a step forward; the footage recorded meanwhile was re-filed`);
      return;
    }
    // Nothing to pair it with: footage already filed stays, new footage follows the host clock.
    this.lastEndMs = undefined;
    this.holeReason = { reason: "clock-step", detail: `host clock stepped back ${s} s` };
  }

  /** Moves segments from `fromMs` on by `shiftMs` (< 0) and ends the forward step's gap where they now start. */
  private async undoForwardStep(gapStartMs: number, fromMs: number, shiftMs: number, detail: string): Promise<void> {
    await this.committing; // every closed segment has its row before rows are moved
    const moved = await this.host.refile(this.cameraId, this.stream, fromMs, shiftMs);
    const first = moved[0]?.startMs ?? gapStartMs;
    // Same start as the forward step's gap: this line replaces it (a gap closed at its start is no gap).
    await this.host.saveGap({ cameraId: this.cameraId, stream: this.stream, startMs: gapStartMs, endMs: Math.max(first, gapStartMs), reason: "clock-step", detail });
    if (moved.length) this.lastEndMs = moved[moved.length - 1]!.endMs;
    this.log.warn("footage filed under a stepped clock moved back", { segments: moved.length, shiftMs });
  }

  /**
   * First segment of this process, and the stream's footage ends in the future: the host clock
   * was ahead when it was recorded (and is right now), or is behind now. If a forward
   * "clock-step" gap explains it, the footage after that gap moves back by the gap's length;
   * otherwise new footage follows the host clock instead of a future end.
   */
  private async futureFootage(hostStart: number): Promise<void> {
    const last = this.lastEndMs;
    if (last === undefined || last <= hostStart + STEP_MS) return;
    const g = await this.host.lastGap(this.cameraId, this.stream, "clock-step", last);
    const shift = g && g.endMs !== null ? -(g.endMs - g.startMs) : 0;
    if (g && g.endMs !== null && shift < 0 && last + shift <= hostStart + STEP_MS) {
      const open = this.pendingGap;
      await this.undoForwardStep(g.startMs, g.endMs, shift, `host clock was ${(-shift / 1000).toFixed(1)} s ahead; found at restart, the footage recorded meanwhile was re-filed`);
      if (open && open.startMs >= g.endMs) {
        // The open gap (crash, stopped) started at the old, future end: it starts at the moved end now.
        await this.host.saveGap({ ...open, endMs: open.startMs });
        this.pendingGap = { ...open, startMs: this.lastEndMs ?? open.startMs + shift };
        await this.host.saveGap(this.pendingGap);
      }
      return;
    }
    this.log.warn("recorded footage ends in the future (host clock stepped back since); new footage follows the host clock", { lastEndMs: last, hostMs: hostStart });
    if (this.pendingGap && this.pendingGap.startMs > hostStart) {
      await this.host.saveGap({ ...this.pendingGap, endMs: this.pendingGap.startMs });
      this.pendingGap = undefined;
    }
    this.lastEndMs = undefined;
  }

  private wallStart(info: FragmentInfo, receivedAtMs: number): number {
    const hostStart = Math.round(receivedAtMs - info.durationMs);
    let start: number;
    if (this.anchor) {
      start = Math.round(this.anchor.wall + (info.startMs - this.anchor.media));
      if (Math.abs(start - hostStart) > REANCHOR_MS) {
        this.log.warn("host clock and media time disagree; re-anchoring", { mediaBased: start, hostBased: hostStart });
        this.holeReason ??= { reason: "resync", detail: `camera and host time disagreed by ${Math.round((hostStart - start) / 100) / 10} s; re-anchored to host time` };
        start = hostStart;
        this.anchor = null;
      }
    } else start = hostStart;
    const last = this.lastEndMs;
    // Rounding can put a contiguous segment a millisecond off its predecessor: snap it on.
    if (last !== undefined && Math.abs(start - last) <= 5) start = last;
    if (last !== undefined && start < last) {
      start = last; // never start before the previous end of this stream
      this.anchor = null;
    }
    if (!this.anchor) this.anchor = { wall: start, media: info.startMs };
    return start;
  }

  private async openSegment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number, arrived: number): Promise<void> {
    const init = this.initBytes!;
    const initInfo = this.initInfo!;
    const rebaseMs = fileMediaStart(info, initInfo);
    const muxed = retimeMuxed(bytes, info, initInfo, rebaseMs, init.length);
    const parts = [init, ...(muxed?.parts ?? rebase(bytes, initInfo, rebaseMs))];
    const need = byteLength(parts);
    // The first file of this run, or after a gap: recording (re)starts with it.
    const resumes = this.firstOpen || this.pendingGap !== undefined;
    if (await this.host.lowOnSpace()) await this.host.makeRoom(need);
    if (this.firstOpen) {
      this.firstOpen = false;
      await this.futureFootage(Math.round(receivedAtMs - info.durationMs));
    }
    const before = this.lastEndMs;
    // A format change on a running connection can lose no media at all (the camera's next
    // keyframe follows its last frame): its 'restart' gap would close at its start and vanish
    // with the session boundary. The new session starts 1 ms after it instead (well inside the
    // dating's precision; the timeline merges such holes), so the boundary stays on record.
    const gap = this.pendingGap;
    const boundary = gap?.reason === "restart" ? gap.startMs + 1 : -Infinity;
    const floor = Math.max(before ?? -Infinity, gap?.startMs ?? -Infinity, boundary);
    let start = this.wallStart(info, receivedAtMs);
    if (start < boundary) {
      start = boundary;
      this.anchor = { wall: start, media: info.startMs };
    }
    let fh: FileHandle | undefined;
    let rel = "";
    for (let attempt = 0; ; attempt++) {
      try {
        this.host.reserve(need);
      } catch (e) {
        if (attempt === 0 && isNoSpace(e) && (await this.roomFor(need))) continue;
        return this.noSpace(e);
      }
      rel = segmentRelPath(this.cameraId, this.stream, start);
      const path = join(this.host.root, rel);
      try {
        await mkdirDurable(dirname(path));
        fh = await open(path, "wx");
      } catch (e) {
        this.host.release(need);
        if ((e as { code?: string }).code === "EEXIST") {
          start++;
          attempt--;
          continue;
        }
        if (attempt === 0 && isNoSpace(e) && (await this.roomFor(need))) continue;
        if (isNoSpace(e)) return this.noSpace(e);
        throw e;
      }
      try {
        await this.host.append(fh, parts, 0);
        startMark("first fragment written");
        break;
      } catch (e) {
        this.host.release(need);
        await fh.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        fh = undefined;
        if (attempt === 0 && isNoSpace(e) && (await this.roomFor(need))) continue;
        if (isNoSpace(e)) return this.noSpace(e);
        throw e;
      }
    }
    const hasher = new Bun.CryptoHasher("sha256");
    for (const p of parts) hasher.update(p);
    const rec: SegmentRecord = {
      id: segmentId(this.cameraId, this.stream, start),
      cameraId: this.cameraId,
      stream: this.stream,
      startMs: start,
      endMs: start + Math.round(info.startMs + info.durationMs - info.startMs),
      bytes: need,
      path: rel,
      mime: initInfo.mime,
    };
    if (initInfo.video?.width) rec.width = initInfo.video.width;
    if (initInfo.video?.height) rec.height = initInfo.video.height;
    // The open file itself must survive power loss, not only its bytes: its directory entry is
    // fsynced now (off the fragment path); no fragment of it counts as durable before that.
    const dirSynced = this.host.syncDir(dirname(join(this.host.root, rel)));
    dirSynced.catch(() => undefined);
    this.seg = {
      fh: fh!,
      rec,
      mediaStart: info.startMs,
      mediaEnd: info.startMs + info.durationMs,
      rebaseMs,
      hasher,
      durable: 0,
      covered: 0,
      dirSynced,
      syncs: new Set(),
      pending: [{ end: need, arrived }],
      frags: [],
      initLen: initLength(init),
    };
    this.seg.frags = this.seg.initLen > 0 ? (muxed ? [muxed.entry] : addEntries([], parts.slice(1), init.length, initInfo)) : null;
    this.host.wrote?.(true);
    if (this.diskFull) {
      this.log.info("disk has room again; recording resumed");
      this.diskFull = false;
    }
    if (this.forwardStep && this.forwardStep.fromMs === undefined) this.forwardStep.fromMs = start;
    // Recording resumes (after a crash, an outage, a restart) or starts with this file: its first
    // fragment is made durable now, not at the next durability tick (up to durabilityMs later).
    if (resumes) this.host.syncNow(this);
    // This segment set its session's anchor (a later one of the session starts at the anchor's
    // wall time plus media time): its start may settle earlier over the next fragments.
    const anchored = this.anchor !== null && this.anchor.media === info.startMs && this.anchor.wall === start;
    if (anchored && start > floor) this.seg.settle = { floor, untilMedia: info.startMs + ANCHOR_SETTLE_MS };
    if (this.pendingGap) {
      // The gap ends where this segment starts; persisted only now that the file exists.
      const closed = { ...this.pendingGap, endMs: start };
      this.pendingGap = undefined;
      if (this.seg.settle) this.seg.settle.gap = closed;
      await this.host.saveGap(closed);
    } else if (before !== undefined && start - before > HOLE_MS) {
      // Every hole has a reason: a clock step, a re-anchoring, or media the camera never sent.
      const why = this.holeReason ?? { reason: "resync" as const, detail: `no media for ${((start - before) / 1000).toFixed(1)} s within one session` };
      await this.host.saveGap({ cameraId: this.cameraId, stream: this.stream, startMs: before, endMs: start, reason: why.reason, detail: why.detail });
    }
    this.holeReason = undefined;
  }

  private async append(bytes: Uint8Array, info: FragmentInfo, arrived: number): Promise<void> {
    const s = this.seg!;
    // A fragment the native ingest muxed comes with its layout: retimed and indexed without parsing.
    const muxed = retimeMuxed(bytes, info, this.initInfo!, s.rebaseMs, s.rec.bytes);
    const parts = muxed?.parts ?? rebase(bytes, this.initInfo!, s.rebaseMs);
    const size = byteLength(parts);
    for (let attempt = 0; ; attempt++) {
      try {
        this.host.reserve(size);
      } catch (e) {
        if (attempt === 0 && isNoSpace(e) && (await this.roomFor(size))) continue;
        return this.fullWhileOpen(e);
      }
      try {
        await this.host.append(s.fh, parts, s.rec.bytes); // durable at the next tick (sync())
        break;
      } catch (e) {
        this.host.release(size);
        // A partial write leaves a torn fragment: cut back to the last whole one.
        await s.fh.truncate(s.rec.bytes).catch(() => undefined);
        if (!isNoSpace(e)) throw e;
        if (attempt === 0 && (await this.roomFor(size))) continue;
        return this.fullWhileOpen(e);
      }
    }
    for (const p of parts) s.hasher.update(p);
    if (s.frags) {
      if (muxed) s.frags.push(muxed.entry);
      else s.frags = addEntries(s.frags, parts, s.rec.bytes, this.initInfo!);
    }
    s.rec.bytes += size;
    s.pending.push({ end: s.rec.bytes, arrived });
    this.host.wrote?.(!this.syncing());
    s.mediaEnd = info.startMs + info.durationMs;
    s.rec.endMs = s.rec.startMs + Math.round(s.mediaEnd - s.mediaStart);
  }

  /**
   * The session's anchor, set from its first fragment's arrival, moves earlier when a later
   * fragment's arrival says the session started earlier (see ANCHOR_SETTLE_MS): the open
   * segment's start and end move with it; its file name and the end of the gap it closed
   * follow once the window is over (or at commit). Without this a late first fragment dates
   * the whole session late, its footage "ends in the future", and the next session (a format
   * change) is clamped onto that end, losing its 'restart' gap.
   */
  private async settleStart(s: OpenSegment | null, info: FragmentInfo, receivedAtMs: number): Promise<void> {
    const st = s?.settle;
    const a = this.anchor;
    if (!s || !st || !a) return;
    const end = info.startMs + info.durationMs;
    if (end > st.untilMedia) return this.applySettled(s);
    const wall = Math.max(Math.round(receivedAtMs - (end - a.media)), st.floor);
    if (wall >= a.wall) return;
    const shift = a.wall - wall;
    a.wall = wall;
    // The first segment after a forward clock step: where the step's footage begins moves with
    // it, or undoing the step would leave this segment in the future.
    if (this.forwardStep?.fromMs === s.rec.startMs) this.forwardStep.fromMs -= shift;
    s.rec.startMs -= shift;
    s.rec.endMs -= shift;
  }

  /**
   * A segment whose start settled earlier gets the file name of its start (names carry the
   * start: recovery and central read it), then the gap it closed ends there. Until then the
   * name and the gap agree with each other (a kill -9 meanwhile leaves the provisional start).
   * rename(2) is atomic: after a power cut one of the two names exists, never both. If the
   * name is taken (or the rename fails) the file keeps its name and the segment that start.
   */
  private async applySettled(s: OpenSegment): Promise<void> {
    const st = s.settle;
    s.settle = undefined;
    if (!st) return;
    const rel = segmentRelPath(this.cameraId, this.stream, s.rec.startMs);
    if (rel === s.rec.path) return;
    const from = join(this.host.root, s.rec.path);
    const to = join(this.host.root, rel);
    try {
      if (dirname(to) === dirname(from)) {
        // Synchronously (a metadata operation in one directory): the caller lists the segment
        // right after this call, and a reader must never be handed the name it is about to lose.
        if (existsSync(to)) throw new Error(`${rel} exists`);
        renameSync(from, to);
      } else {
        const taken = await stat(to).then(() => true, () => false);
        if (taken) throw new Error(`${rel} exists`);
        await mkdirDurable(dirname(to));
        await rename(from, to);
      }
    } catch (e) {
      const back = parseSegmentPath(s.rec.path)!.startMs - s.rec.startMs;
      if (this.forwardStep?.fromMs === s.rec.startMs) this.forwardStep.fromMs += back;
      s.rec.startMs += back;
      s.rec.endMs += back;
      if (s === this.seg && this.anchor) this.anchor.wall += back; // later fragments of this file follow its name
      this.log.warn("segment keeps its provisional start (could not rename its file)", { path: s.rec.path, err: e as Error });
      return;
    }
    s.rec.path = rel;
    s.rec.id = segmentId(this.cameraId, this.stream, s.rec.startMs);
    // The new name survives a power cut once its directory is synced (the old one's too, if
    // the start moved across midnight); no fragment counts as durable before that.
    const dirs = [...new Set([dirname(to), dirname(from)])];
    s.dirSynced = Promise.all([s.dirSynced, ...dirs.map((d) => this.host.syncDir(d))]).then(() => undefined);
    s.dirSynced.catch(() => undefined);
    if (st.gap && st.gap.endMs !== s.rec.startMs) await this.host.saveGap({ ...st.gap, endMs: s.rec.startMs });
  }

  /** Retention can only delete indexed segments: let closed ones finish committing first. */
  private async roomFor(bytes: number): Promise<boolean> {
    await this.committing;
    return this.host.makeRoom(bytes);
  }

  private async fullWhileOpen(e: unknown): Promise<void> {
    await this.commit();
    await this.noSpace(e);
  }

  /** Drop this fragment and stay in "disk full" until a keyframe finds room again. */
  private async noSpace(e: unknown): Promise<void> {
    if (!this.pendingGap) await this.beginGap("disk-full", (e as Error).message);
    this.dropped++;
    this.diskFull = true;
    const now = this.host.clock.now();
    if (now - this.lastNoSpaceLog > 10_000) {
      this.lastNoSpaceLog = now;
      this.log.error("no space for recording; retention could not free enough (locked footage?)", { err: (e as Error).message });
    }
  }

  /**
   * Closes the open segment now (the next one may open at once) and commits it in the
   * background, in order: wait for its in-flight fsyncs, file fsync → dir fsync → index row.
   * The returned promise is that commit; the fragment path does not wait for it.
   */
  private commit(): Promise<void> {
    const s = this.seg!;
    this.seg = null;
    this.lastEndMs = s.rec.endMs;
    // Renames a settled start's file before the segment is listed as closing (same directory:
    // synchronously, see applySettled), so no reader gets its old name.
    const settledName = this.applySettled(s);
    this.detached.add(s);
    // Durability starts at once (segments closing in a row must not wait for each other's
    // fsyncs); only the index rows are written in order.
    const durable = (async () => {
      await settledName;
      // The final fsync does not queue behind the ticks' fsyncs still in flight; the handle
      // closes only when all of them are done.
      const last = this.host.syncFile(s.fh);
      await Promise.allSettled([last, ...s.syncs]);
      await last;
      await s.dirSynced;
      markDurable(s, s.rec.bytes);
      await s.fh.close();
      await this.host.syncDir(dirname(join(this.host.root, s.rec.path)));
    })();
    durable.catch(() => undefined);
    const p = this.committing.then(async () => {
      try {
        await durable;
        const rec: SegmentRecord = { ...s.rec, sha256: s.hasher.digest("hex") };
        delete rec.open;
        await this.host.commitRow(rec, s.frags && s.frags.length ? encodeFragmentTable(s.initLen, s.frags) : null);
        try {
          this.onCommit?.(rec);
        } catch (e) {
          this.log.error("onCommit handler failed", { err: e as Error });
        }
      } finally {
        this.detached.delete(s);
      }
    });
    // A failed commit leaves the file without a row: the next start's recovery indexes it.
    this.committing = p.catch((e) => this.log.error("segment not committed (recovery will index the file)", { err: e as Error, path: s.rec.path }));
    return p;
  }
}

/**
 * Appends the table entries of fragments just written at `offset` (parts in file order, each
 * a run of whole boxes): one per moof followed at once by its mdat, as playback's walk of the
 * file finds them. Null when the bytes do not fit that model (the segment then has no table
 * and playback scans its file).
 */
function addEntries(frags: FragEntry[], parts: Uint8Array[], offset: number, init: InitInfo): FragEntry[] | null {
  try {
    return walkParts(frags, parts, offset, init);
  } catch {
    return null; // a malformed box: no table, the file is still written as received
  }
}

function walkParts(frags: FragEntry[], parts: Uint8Array[], offset: number, init: InitInfo): FragEntry[] | null {
  let moof: { bytes: Uint8Array; offset: number } | undefined;
  for (const p of parts) {
    let pos = 0;
    while (pos < p.length) {
      const b = readBox(p, pos);
      if (!b) return null;
      if (moof) {
        if (b.type !== "mdat") return null;
        frags.push(fragmentEntry(moof.bytes, b.size, moof.offset, init));
        moof = undefined;
      } else if (b.type === "moof") moof = { bytes: p.subarray(pos, pos + b.size), offset: offset + pos };
      pos += b.size;
    }
    offset += p.length;
  }
  return moof ? null : frags;
}

function markDurable(s: OpenSegment, upto: number): void {
  if (upto > s.durable) s.durable = upto;
  if (upto > 0) startMark("first fragment durable");
  while (s.pending.length && s.pending[0]!.end <= s.durable) s.pending.shift();
}

function byteLength(parts: Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * Each segment file is a playable MP4 of its own: its decode times start at 0, not at the
 * recording session's start (else players report a 10 s file deep into a session as 100 s long).
 * Readers place fragments relative to the file's first one, so only the offset changes.
 */
function fileMediaStart(info: FragmentInfo, init: InitInfo): number {
  // The earliest track of the opening fragment: audio may start a few ms before the keyframe.
  let ms = info.startMs;
  for (const r of info.runs) {
    const ts = init.tracks.find((t) => t.trackId === r.trackId)?.timescale;
    if (ts) ms = Math.min(ms, (r.baseDecodeTime * 1000) / ts);
  }
  return ms;
}

/** The fragment retimed to its file, as parts to write in order (the media bytes are not copied). */
function rebase(bytes: Uint8Array, init: InitInfo, rebaseMs: number): Uint8Array[] {
  return rebaseMs === 0 ? [bytes] : retimeFragmentParts(bytes, init, (_track, ms) => ms - rebaseMs);
}
