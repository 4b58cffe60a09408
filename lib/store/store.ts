/**
 * MediaStore: the object edge and central hold for one data directory. Opens the index,
 * runs recovery, hands out one writer per stream, answers timeline queries, keeps evidence
 * locks, and enforces retention (per camera, quota, free-space floor).
 */
import { access, copyFile, link, open, rename, stat, statfs, unlink, type FileHandle } from "node:fs/promises";
import { constants as fsConstants } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { systemClock, type Clock } from "../clock.ts";
import { startMark } from "../starttrace.ts";
import { createLogger, type Logger } from "../log/index.ts";
import type { EvidenceLock, GapRecord, SegmentRecord, StreamKind, Timeline, TimelineQuery } from "./types.ts";
import type { SegmentDay, SegmentSpans, StoreIndex } from "./db.ts";
import { SqliteIndex, type CompanionIndex } from "./sqlite-index.ts";
import { CLEAN_FILE, INDEX_FILE, LEGACY_INDEX_FILE, checkCameraId, checkStream, fsyncDir, isCameraId, isStream, mkdirDurable, previewRelPath, segmentRelPath, writeFileDurable } from "./layout.ts";
import { describe, readWhole } from "./files.ts";
import { appendGap, checkLockId, removeLock, streamKey, writeLock, type JournalGap } from "./journal.ts";
import { readDisk, recover, recoverClaimed, type ClaimedRecovery, type RecoveryReport } from "./recovery.ts";
import { FragmentAppender } from "./append.ts";
import { wakeups, type Wakeup, type Wakeups } from "../timers/wakeups.ts";
import { StreamWriter, type SegmentWriter, type WriterHost, type WriterStatus } from "./writer.ts";
import { QuotaError, RowRefusedError, StoreInputError, isNoSpace } from "./errors.ts";
import { AgeQuiet, retention, type RetentionPolicy } from "./retention.ts";

export interface StoreOptions {
  root: string;
  clock?: Clock;
  log?: Logger;
  /** Target segment length; cut at the first keyframe fragment at/after it. Default 60 s. */
  segmentDurationMs?: number;
  /** Simulated quota for tests and small appliances: total bytes the store may hold (segments). */
  maxTotalBytes?: number;
  /** Keep at least this many bytes free on the volume (statfs); default 256 MiB. */
  minFreeBytes?: number;
  /**
   * Another index than the store's own DuckDB file (central: rows in PostgreSQL shared by its
   * nodes, central/media). Opened after the CLEAN marker is read; closed by close(). Rows
   * whose file is missing are kept and reported by recovery, never dropped.
   */
  index?: () => Promise<StoreIndex>;
  /**
   * Cameras whose segments this store's retention (policies, quota, free-space floor, room for
   * a writer) may delete; default all. Central nodes sharing one store pass "the sites whose
   * partition I own" (central/cluster), asked at each pass, so ownership may change meanwhile.
   */
  retentionScope?: (cameraId: string) => boolean;
  /** Cameras whose files and journals recovery at open may change (lib/store/recovery.ts); default all. */
  recoveryScope?: (cameraId: string) => boolean;
  /** Maintenance open (`outpost check --rebuild`): leave the CLEAN marker alone and open no crash gaps. */
  maintenance?: boolean;
  /**
   * Durability tick: what the streams wrote is fsynced at most this many ms after it was
   * written, one round for every stream that wrote meanwhile. 0: as soon as the event-loop turn
   * that wrote it is done (the streams that wrote in that turn together — with batched camera
   * reads, one round per batch that completed a fragment, in the batch's own wake-up). A power
   * cut loses at most about one tick plus one fsync per stream; a longer tick groups more
   * fragments into one fsync (SD/eMMC wear) where fragments are shorter than it. Default 250.
   */
  durabilityMs?: number;
  /**
   * The timer the durability tick runs on (default the process's shared one, lib/timers): the
   * tick may run up to 40 % of durabilityMs early, in a wake-up the process has anyway (the
   * batched camera reads), instead of waking the event loop for itself.
   */
  timers?: Wakeups;
  /** Loss budget per stream: beyond this writer lag (received, not yet durable) the writer reports "lagging". Default 1000. */
  maxLagMs?: number;
  /** Injected fsyncs (tests model a slow disk); default the real ones. */
  sync?: {
    file?: (fh: FileHandle) => Promise<void>;
    dir?: (dir: string) => Promise<void>;
    /**
     * One sync of the whole volume holding `root` (syncfs(2), e.g. `volumeSyncer()` from
     * lib/store/sync-thread.ts), used by the durability tick instead of one fsync per stream.
     * Absent or null = per-file fsyncs.
     */
    volume?: ((root: string) => Promise<void>) | null;
  };
}

/**
 * The durability tick may run this share of durabilityMs early, on another wake-up: 100 ms of
 * 250, so one 100 ms batch of camera reads always falls in its window.
 */
const TICK_SLACK = 0.4;

/**
 * With durabilityMs 0, bytes written while an fsync of their stream is in flight (a slow disk),
 * or whose fsync failed, wait for the next round at most this long (or, in flight, until that
 * fsync returns): one fsync then covers them all instead of one each piling up behind the disk.
 */
const RETRY_MS = 200;

/** Ranges closer than this count as continuous. */
const CONTINUOUS_MS = 1500;

export class MediaStore {
  readonly root: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly segmentDurationMs: number;
  readonly maxTotalBytes: number | undefined;
  readonly minFreeBytes: number;
  private readonly retentionScope: ((cameraId: string) => boolean) | undefined;
  /** Whether the previous run closed cleanly (CLEAN marker was present). */
  readonly wasClean: boolean;
  private readonly writers = new Map<string, StreamWriter>();
  private locksById = new Map<string, EvidenceLock>();
  private totalBytes = 0;
  /** Index rows that could not be written (e.g. disk full for DuckDB's WAL); retried on the next commit. */
  private unindexed: SegmentRecord[] = [];
  private closed = false;
  /** Set by endSessions (or close): every session ended or ending, no new writer. */
  private ending: Promise<void> | undefined;
  private retentionRunning: Promise<unknown> = Promise.resolve();
  private readonly maintenance: boolean;
  readonly durabilityMs: number;
  /** Host-clock steps the writers saw since the store opened (newest last, at most 20). */
  readonly clockSteps: { atMs: number; stepMs: number }[] = [];
  /** The next durability tick, armed while some writer has bytes no fsync covers yet. */
  private tick: Wakeup | undefined;
  /** With durabilityMs 0: the round at the end of the turn that wrote (StoreHost.wrote's atOnce). */
  private atOnce: Wakeup | undefined;
  private readonly timers: Wakeups;
  /** Per-file fsyncs, or one sync of the volume (opts.sync.volume). */
  private readonly volume: ((root: string) => Promise<void>) | null;
  /** Fragment writes: inline on the event loop, on the thread pool after a slow one (append.ts). */
  private readonly appender: FragmentAppender;
  /** Durability ticks run since the store opened (none while nothing waits for one). */
  readonly durabilityStats = { ticks: 0 };
  /** Fragment writes run inline and on the thread pool since the store opened. */
  get writeStats(): { readonly inline: number; readonly pooled: number } {
    return this.appender.stats;
  }
  private readonly host: WriterHost & { commitRowOnly(seg: SegmentRecord, frags?: Uint8Array | null): Promise<void> };
  private commitObservers: ((seg: SegmentRecord) => unknown)[] = [];
  /**
   * Retention's memory of when each camera's age limit can next delete something (retention.ts
   * AgeQuiet). Only for a store that owns its index (the edge): rows another process writes
   * into a shared index would not reach it.
   */
  private readonly ageQuiet: AgeQuiet | undefined;
  private indexObservers: (() => void)[] = [];

  private constructor(
    opts: StoreOptions,
    private readonly db: StoreIndex,
    readonly recovery: RecoveryReport,
    private readonly lastEnd: Map<string, number>,
    private readonly openGaps: Map<string, JournalGap>,
    wasClean: boolean,
  ) {
    this.root = resolve(opts.root);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? createLogger("store");
    this.segmentDurationMs = opts.segmentDurationMs ?? 60_000;
    this.maxTotalBytes = opts.maxTotalBytes;
    this.minFreeBytes = opts.minFreeBytes ?? 256 * 1024 * 1024;
    this.retentionScope = opts.retentionScope;
    this.wasClean = wasClean;
    this.maintenance = !!opts.maintenance;
    this.durabilityMs = opts.durabilityMs ?? 250;
    this.timers = opts.timers ?? wakeups;
    this.ageQuiet = opts.index ? undefined : new AgeQuiet();
    const clock = this.clock;
    this.appender = new FragmentAppender(clock.monotonic ? () => clock.monotonic!() : undefined);
    this.host = {
      root: this.root,
      clock: this.clock,
      segmentDurationMs: this.segmentDurationMs,
      maxLagMs: opts.maxLagMs ?? 1000,
      refile: (cameraId, stream, fromMs, shiftMs) => this.refile(cameraId, stream, fromMs, shiftMs),
      lastGap: async (cameraId, stream, reason, atMs) =>
        (await this.db.gaps(cameraId, stream, 0, atMs + 1)).filter((g) => g.reason === reason && g.endMs !== null && g.endMs <= atMs).sort((a, b) => a.startMs - b.startMs).at(-1),
      noteClockStep: (stepMs) => {
        const at = this.clock.now();
        // Every writer sees the same step: one entry per step.
        if (this.clockSteps.some((s) => Math.abs(s.stepMs - stepMs) <= 2000 && Math.abs(s.atMs - at) <= 10_000)) return;
        this.clockSteps.push({ atMs: at, stepMs });
        if (this.clockSteps.length > 20) this.clockSteps.shift();
      },
      append: (fh, parts, position) => this.appender.write(fh, parts, position),
      syncFile: (fh) => this.appender.watchSync(() => (opts.sync?.file ? opts.sync.file(fh) : fh.sync())),
      wrote: (atOnce) => this.armTick(atOnce),
      syncDir: opts.sync?.dir ?? fsyncDir,
      // This stream only (file mode); in volume mode one syncfs unless one is already running — a
      // round per starting stream filled the bounded in-flight syncs and delayed the ticks' own
      // (12 streams starting: each later sync covered 9.5 streams instead of 12, worst 0.58 → 0.95 s).
      syncNow: (w) => {
        if (!this.volume) w.sync();
        else if (this.volumeSyncs === 0) this.syncVolume(this.volume);
      },
      reserve: (n) => {
        if (this.maxTotalBytes !== undefined && this.totalBytes + n > this.maxTotalBytes) throw new QuotaError(`store quota of ${this.maxTotalBytes} bytes reached`);
        this.totalBytes += n;
      },
      release: (n) => {
        this.totalBytes -= n;
      },
      // Another writer's retention may have made room just before ours ran and found nothing
      // left to delete: "room now" counts as success, not only "deleted something".
      makeRoom: async (n) =>
        (await this.exclusive(() => retention(this.retentionHost, null, n))).deleted.length > 0 ||
        this.maxTotalBytes === undefined ||
        this.totalBytes + n <= this.maxTotalBytes,
      lowOnSpace: async () => (await this.freeBytes()) < this.minFreeBytes || (this.maxTotalBytes !== undefined && this.totalBytes > this.maxTotalBytes),
      commitRow: async (seg, frags) => {
        if (!(await this.putRow(seg, frags))) return;
        this.lastEnd.set(streamKey(seg.cameraId, seg.stream), seg.endMs);
        this.indexChanged();
        for (const o of this.commitObservers) {
          try {
            await o(seg);
          } catch (e) {
            this.log.error("commit observer failed", { err: e as Error, segment: seg.id });
          }
        }
      },
      commitRowOnly: async (seg, frags) => {
        await this.putRow(seg, frags);
        const key = streamKey(seg.cameraId, seg.stream);
        if (seg.endMs > (this.lastEnd.get(key) ?? 0)) this.lastEnd.set(key, seg.endMs);
      },
      saveGap: async (g) => {
        await this.withRoom(() => appendGap(this.root, g));
        const key = streamKey(g.cameraId, g.stream);
        if (g.endMs === null) this.openGaps.set(key, g);
        else if (this.openGaps.get(key)?.startMs === g.startMs) this.openGaps.delete(key);
        try {
          if (g.endMs !== null && g.endMs <= g.startMs) await this.db.deleteGap(g);
          else await this.db.putGap(g);
        } catch (e) {
          this.log.error("gap not written to the index (it is in the journal)", { err: e as Error });
        }
        if (g.endMs !== null) this.indexChanged();
      },
    };
    // One durability round for all streams (group commit), not one fsync per fragment: one
    // fsync per stream that wrote, or one syncfs of the volume when the caller asks for it
    // (the edge's storage.durabilitySync). syncfs is opt-in: side by side it was not cheaper at
    // 1–8 streams (a thread start and join polling per tick), see docs/design/storage.md.
    // The tick is armed by a write, not run on a fixed interval: a fragment still waits at most
    // one tick, and a recorder whose cameras are idle or offline does not wake up for it.
    this.volume = opts.sync?.volume !== undefined ? opts.sync.volume : null;
  }

  /** A writer has bytes no fsync covers; `atOnce`: none of its fsyncs is in flight (see StoreHost.wrote). */
  private armTick(atOnce = false): void {
    if (this.closed || this.ending) return;
    if (this.durabilityMs === 0 && atOnce) {
      this.atOnce ??= this.timers.soon(() => {
        this.atOnce = undefined;
        this.durabilityTick(true);
      });
      return;
    }
    if (this.tick) return;
    // Early is safe (what was written is synced sooner); never later than durabilityMs.
    const ms = this.durabilityMs || RETRY_MS;
    this.tick = this.timers.after(
      () => {
        this.tick = undefined;
        this.durabilityTick(false);
      },
      ms,
      ms * TICK_SLACK,
    );
  }

  /**
   * One durability round; another is armed while bytes remain that no started sync covers.
   * `idleOnly` (the round right after a write's turn): only streams with no fsync in flight.
   */
  private durabilityTick(idleOnly: boolean): void {
    this.durabilityStats.ticks++;
    this.durabilityRound(idleOnly);
    for (const w of this.writers.values()) if (w.unsynced()) return this.armTick(false);
    // Everything is covered now: a retry armed while a stream's fsync was in flight (that fsync
    // returned and this round started the next) has nothing left to do — no wake-up for it.
    this.tick?.cancel();
    this.tick = undefined;
  }

  /** Makes what every stream wrote durable: the tick's work, also run at once when a stream resumes recording. */
  private durabilityRound(idleOnly = false): void {
    if (this.volume) {
      if (!idleOnly || this.volumeSyncs === 0) this.syncVolume(this.volume);
    } else for (const w of this.writers.values()) if (!idleOnly || !w.syncing()) w.sync();
  }
  /** Volume syncs in flight: a slow disk gets overlapping ones (as per-file fsyncs do), up to a bound. */
  private volumeSyncs = 0;
  private lastVolumeErrorLog = 0;
  /** Durability ticks that ran one volume sync, and how many streams each covered (for /health and tests). */
  readonly volumeSyncStats = { ticks: 0, streams: 0 };

  /** One durability tick for every stream at once: what each wrote before it is durable when the volume sync returns. */
  private syncVolume(volume: (root: string) => Promise<void>): void {
    if (this.volumeSyncs >= 4) return;
    const marks = [...this.writers.values()].map((w) => w.volumeMark()).filter((m) => m !== null);
    if (marks.length === 0) return;
    this.volumeSyncs++;
    this.volumeSyncStats.ticks++;
    this.volumeSyncStats.streams += marks.length;
    this.appender
      .watchSync(() => volume(this.root))
      .then(() => Promise.all(marks.map((m) => m())))
      .catch((e) => {
        for (const m of marks) m.failed();
        // Nothing is marked durable: the writers' lag grows ("lagging") and the next tick tries again.
        const now = this.clock.now();
        if (now - this.lastVolumeErrorLog > 10_000) {
          this.lastVolumeErrorLog = now;
          this.log.error("volume sync failed; recorded fragments may not survive a power cut", { err: e as Error });
        }
      })
      .finally(() => this.volumeSyncs--);
  }

  static async open(opts: StoreOptions): Promise<MediaStore> {
    if (!opts || typeof opts.root !== "string" || !opts.root) throw new StoreInputError("store root directory is required");
    if (opts.segmentDurationMs !== undefined && !(opts.segmentDurationMs >= 500)) throw new StoreInputError("segmentDurationMs must be at least 500");
    if (opts.durabilityMs !== undefined && !(opts.durabilityMs === 0 || (opts.durabilityMs >= 10 && opts.durabilityMs <= 1000)))
      throw new StoreInputError("durabilityMs must be 0 (right after each write) or between 10 and 1000 (the loss budget per crash is 1 s)");
    const root = resolve(opts.root);
    const log = opts.log ?? createLogger("store");
    await mkdirDurable(root);
    opts = { ...opts, minFreeBytes: await checkFreeFloor(root, opts.minFreeBytes, log) };
    let wasClean = true;
    if (!opts.maintenance) {
      // Remove the marker first: a crash from here on must count as unclean.
      wasClean = await exists(join(root, CLEAN_FILE));
      if (wasClean) {
        await unlink(join(root, CLEAN_FILE));
        await fsyncDir(root);
      }
    }
    // Recovery's reads of the disk run while the index opens (DuckDB works on its own threads).
    const disk = readDisk(root);
    disk.catch(() => undefined); // awaited below; an index that fails to open wins
    const db = opts.index ? await opts.index() : await openIndex(root, log);
    startMark("store index open");
    try {
      const r = await recover(root, db, log, { crashGaps: !opts.maintenance && !wasClean, keepRowsWithoutFile: !!opts.index, ...(opts.recoveryScope ? { scope: opts.recoveryScope } : {}) }, await disk);
      const store = new MediaStore(opts, db, r.report, r.lastEnd, r.openGaps, wasClean);
      for (const l of [...r.locks].sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : 1))) store.locksById.set(l.id, l);
      store.totalBytes = r.totalBytes;
      startMark("store open");
      log.info("store open", { root, clean: wasClean, recoveryActions: r.report.actions.length, bytes: store.totalBytes });
      return store;
    } catch (e) {
      await db.close(false).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Extension point (custody chains): `fn` runs after each segment this store's writers record
   * is durable and indexed, in commit order per stream, awaited before the writer goes on
   * (imports are not recorded here: they are someone else's segments). Errors are logged and
   * never fail the commit. Returns the function that removes the observer.
   */
  /**
   * The index database, for companion tables that other modules keep beside the segments (the
   * edge's position track: edge/position). Like the rest of the index they are derived data:
   * their owner must be able to rebuild them from its own files on disk.
   */
  get companionIndex(): CompanionIndex {
    if (!(this.db instanceof SqliteIndex)) throw new Error("companion tables need the store's own index (the edge's)");
    return this.db;
  }

  observeCommits(fn: (seg: SegmentRecord) => unknown): () => void {
    this.commitObservers.push(fn);
    return () => {
      this.commitObservers = this.commitObservers.filter((o) => o !== fn);
    };
  }

  /**
   * `fn` runs (synchronously, must not throw or wait) whenever what an index sync would send
   * changed: a segment committed, a gap closed or added, an evidence lock created or deleted.
   * Lets a follower (edge/uplink's index sync) act on change instead of polling the index.
   * Returns the function that removes the observer.
   */
  observeIndex(fn: () => void): () => void {
    this.indexObservers.push(fn);
    return () => {
      this.indexObservers = this.indexObservers.filter((o) => o !== fn);
    };
  }

  private indexChanged(): void {
    for (const o of this.indexObservers) {
      try {
        o();
      } catch (e) {
        this.log.error("index observer failed", { err: e as Error });
      }
    }
  }

  writer(cameraId: string, stream: StreamKind): SegmentWriter {
    checkCameraId(cameraId);
    checkStream(stream);
    if (this.closed || this.ending) throw new Error("store is closed");
    const key = streamKey(cameraId, stream);
    let w = this.writers.get(key);
    if (!w) {
      w = new StreamWriter(this.host, this.log.child({ camera: cameraId, stream }), cameraId, stream, this.lastEnd.get(key), this.openGaps.get(key));
      this.writers.set(key, w);
    }
    return w;
  }

  /** The writer's state and lag of one stream (idle when it never wrote). */
  writerStatus(cameraId: string, stream: StreamKind): WriterStatus {
    return this.writers.get(streamKey(cameraId, stream))?.status() ?? { state: "idle", lagMs: 0, queued: 0, dropped: 0 };
  }

  async segments(q: TimelineQuery): Promise<SegmentRecord[]> {
    const { cameraId, stream, fromMs, toMs } = checkQuery(q);
    if (!isCameraId(cameraId)) return [];
    const rows = await this.db.segments(cameraId, stream, fromMs, toMs);
    this.addLive(rows, cameraId, stream, fromMs, toMs);
    return rows;
  }

  /**
   * The closed segments of a window (those segments() gives without `open`) as numbers only:
   * start, end and bytes, by start. For reads over a stream's whole history (the uplink's index
   * sync and digest) that need no SegmentRecord: 43,200 records of 30 days are ~16 MB of
   * short-lived objects and strings per read, these columns ~1 MB.
   */
  async spans(q: TimelineQuery): Promise<SegmentSpans> {
    const { cameraId, stream, fromMs, toMs } = checkQuery(q);
    if (!isCameraId(cameraId)) return { start: [], end: [], bytes: [] };
    const { start, end, bytes } = await this.db.spans(cameraId, stream, fromMs, toMs);
    const extra: SegmentRecord[] = [];
    this.addLive(extra, cameraId, stream, fromMs, toMs);
    // A closing segment's row may be in the index already (addLive checks against records).
    const fresh = extra.filter((r) => !r.open && !sortedIncludes(start, r.startMs));
    if (fresh.length === 0) return { start, end, bytes };
    const all = [...start.map((s, i) => [s, end[i]!, bytes[i]!] as const), ...fresh.map((r) => [r.startMs, r.endMs, r.bytes] as const)].sort((a, b) => a[0] - b[0]);
    return { start: all.map((x) => x[0]), end: all.map((x) => x[1]), bytes: all.map((x) => x[2]) };
  }

  /**
   * The index digest's segments by UTC day, counted and hashed by the index (federation/protocol/
   * digest.ts; DuckDB: 30 rows for 30 days of a stream instead of 43,200; `lines` for a day's
   * lines instead of their hash, `day` for one day only), for the closed segments
   * overlapping the window that start in [from, lastStart]. null when the index cannot make them
   * or a segment of that range is not in it yet (being committed, or waiting for a writable
   * index): the caller makes them from spans() then.
   */
  async segmentDays(q: TimelineQuery, lastStartMs: number, opts: { lines?: boolean; day?: number } = {}): Promise<SegmentDay[] | null> {
    const { cameraId, stream, fromMs, toMs } = checkQuery(q);
    if (!isCameraId(cameraId)) return [];
    if (!this.db.segmentDays) return null;
    const live: SegmentRecord[] = [];
    this.addLive(live, cameraId, stream, fromMs, toMs);
    if (live.some((r) => !r.open && r.startMs >= fromMs && r.startMs <= lastStartMs)) return null;
    return this.db.segmentDays(cameraId, stream, fromMs, toMs, lastStartMs, opts);
  }

  /** Adds what is not in the index yet: rows waiting for a writable index, and the open segment. */
  private addLive(rows: SegmentRecord[], cameraId: string, stream: StreamKind, fromMs: number, toMs: number): void {
    let added = false;
    for (const u of this.unindexed) {
      if (u.cameraId === cameraId && u.stream === stream && u.startMs < toMs && u.endMs > fromMs) {
        rows.push(u);
        added = true;
      }
    }
    const w = this.writers.get(streamKey(cameraId, stream));
    for (const c of w?.closing() ?? []) {
      if (c.startMs < toMs && c.endMs > fromMs && !rows.some((r) => r.startMs === c.startMs)) {
        rows.push(c);
        added = true;
      }
    }
    if (added) rows.sort((a, b) => a.startMs - b.startMs);
    const cur = w?.current();
    if (cur && cur.startMs < toMs && cur.endMs >= fromMs) rows.push(cur);
  }

  /**
   * Ranges and gaps are clipped to [from, to); segments are whole files (without sha256). An
   * open gap runs up to now. `segments: false` skips building segment objects (a 30-day
   * overview needs only ranges and gaps); `segments` is then empty. `segments: "count"` is the
   * same plus `segmentCount`, counted in the index.
   */
  async timeline(q: TimelineQuery, opts: { segments?: boolean | "count" } = {}): Promise<Timeline> {
    const { cameraId, stream, fromMs, toMs } = checkQuery(q);
    if (!isCameraId(cameraId)) return { ranges: [], gaps: [], segments: [] };
    let segments: SegmentRecord[] = [];
    let starts: number[];
    let ends: number[];
    let segmentCount: number | undefined;
    if (opts.segments === false || opts.segments === "count") {
      const sp = await this.db.coverageIn(cameraId, stream, fromMs, toMs);
      starts = sp.start;
      ends = sp.end;
      const extra: SegmentRecord[] = [];
      this.addLive(extra, cameraId, stream, fromMs, toMs);
      if (opts.segments === "count") {
        // extra holds every closing segment of the window; its row may already be in the index.
        const closing = (this.writers.get(streamKey(cameraId, stream))?.closing() ?? []).filter((c) => c.startMs < toMs && c.endMs > fromMs).map((c) => c.startMs);
        segmentCount = (await this.db.countSegments(cameraId, stream, fromMs, toMs, closing)) + extra.length;
      }
      if (extra.length) {
        const all = [...starts.map((s, i) => [s, ends[i]!] as const), ...extra.map((e) => [e.startMs, e.endMs] as const)].sort((a, b) => a[0] - b[0]);
        starts = all.map((x) => x[0]);
        ends = all.map((x) => x[1]);
      }
    } else {
      segments = await this.db.segmentsLite(cameraId, stream, fromMs, toMs);
      this.addLive(segments, cameraId, stream, fromMs, toMs);
      starts = segments.map((s) => s.startMs);
      ends = segments.map((s) => s.endMs);
    }
    const ranges: { startMs: number; endMs: number }[] = [];
    for (let i = 0; i < starts.length; i++) {
      const last = ranges[ranges.length - 1];
      if (last && starts[i]! - last.endMs <= CONTINUOUS_MS) last.endMs = Math.max(last.endMs, ends[i]!);
      else ranges.push({ startMs: starts[i]!, endMs: ends[i]! });
    }
    const clipped = ranges.map((r) => ({ startMs: Math.max(r.startMs, fromMs), endMs: Math.min(r.endMs, toMs) })).filter((r) => r.endMs > r.startMs);
    const now = this.clock.now();
    const gaps: GapRecord[] = [];
    for (const g of await this.db.gaps(cameraId, stream, fromMs, toMs)) {
      const w = this.writers.get(streamKey(cameraId, stream));
      // An open gap whose writer is recording again ends where recording resumed.
      const end = g.endMs ?? (w && !w.openGap() && w.current() ? w.current()!.startMs : now);
      const rec: GapRecord = { cameraId, stream, startMs: Math.max(g.startMs, fromMs), endMs: Math.min(end, toMs), reason: g.reason };
      if (g.detail) rec.detail = g.detail;
      if (rec.endMs > rec.startMs) gaps.push(rec);
    }
    return segmentCount === undefined ? { ranges: clipped, gaps, segments } : { ranges: clipped, gaps, segments, segmentCount };
  }

  async cameras(): Promise<{ cameraId: string; stream: StreamKind; firstMs: number; lastMs: number; bytes: number; segments: number }[]> {
    const list = await this.db.cameras();
    for (const w of this.writers.values()) {
      const cur = w.current();
      if (!cur) continue;
      const e = list.find((c) => c.cameraId === cur.cameraId && c.stream === cur.stream);
      if (e) {
        e.lastMs = Math.max(e.lastMs, cur.endMs);
        e.bytes += cur.bytes;
        e.segments++;
      } else list.push({ cameraId: cur.cameraId, stream: cur.stream, firstMs: cur.startMs, lastMs: cur.endMs, bytes: cur.bytes, segments: 1 });
    }
    return list.sort((a, b) => (a.cameraId === b.cameraId ? a.stream.localeCompare(b.stream) : a.cameraId < b.cameraId ? -1 : 1));
  }

  /** Stored fragment tables of these segments (those that have one), by start ms: playback plans from them without scanning files. */
  fragmentTables(cameraId: string, stream: StreamKind, segments: SegmentRecord[]): Promise<Map<number, Uint8Array>> {
    return this.db.fragmentTables(cameraId, stream, segments.filter((s) => !s.open).map((s) => s.startMs));
  }

  absPath(seg: SegmentRecord): string {
    return join(this.root, seg.path);
  }

  /**
   * Adds a finished segment made elsewhere (central's copy of an edge segment). The file at
   * `src` (on the store's volume) must be a playable fMP4 whose SHA-256 is `expect.sha256`;
   * it is fsynced, renamed into the layout at `expect.startMs`, the directory fsynced, and only
   * then indexed — the writer's order, so recovery treats it like any recorded segment.
   * Idempotent: when the store already holds this exact segment (same start, same hash) the
   * source is removed and the existing record returned. Another file at the same start (e.g.
   * central's own live recording) moves the import on by a millisecond.
   * On a shared index (several central nodes on one store, `StoreIndex.insertSegment`) the row
   * key decides across nodes: of two nodes importing the same bytes at once, one gets
   * `existed: false`, the other `existed: true`, and the store holds one file and one row.
   */
  async importSegment(src: string, expect: { cameraId: string; stream: StreamKind; startMs: number; sha256: string }): Promise<{ record: SegmentRecord; existed: boolean }> {
    checkCameraId(expect.cameraId);
    checkStream(expect.stream);
    if (!Number.isSafeInteger(expect.startMs) || expect.startMs < 0) throw new StoreInputError("startMs must be a time in ms");
    if (!/^[0-9a-f]{64}$/.test(expect.sha256)) throw new StoreInputError("sha256 must be 64 lower-case hex digits");
    if (this.closed) throw new Error("store is closed");
    this.ageQuiet?.changed(expect.cameraId);
    const buf = await readWhole(src);
    for (let start = expect.startMs; start < expect.startMs + 1000; start++) {
      const rel = segmentRelPath(expect.cameraId, expect.stream, start);
      const dest = join(this.root, rel);
      const d = describe(rel, buf);
      if (!d.record || d.record.bytes !== buf.length) throw new StoreInputError(`the file is not one whole playable segment (${d.record?.bytes ?? 0} of ${buf.length} bytes playable)`);
      if (d.record.sha256 !== expect.sha256) throw new StoreInputError(`SHA-256 mismatch: the file hashes to ${d.record.sha256}, expected ${expect.sha256}`);
      const existing = await stat(dest).catch(() => null);
      if (existing) {
        const [row] = (await this.db.segments(expect.cameraId, expect.stream, start, start + 1)).filter((r) => r.startMs === start);
        if (row?.sha256 === expect.sha256) {
          await unlink(src).catch(() => undefined);
          return { record: row, existed: true };
        }
        // Shared store: another node put these very bytes here and its row is not in yet (or it
        // stopped in between). The file is the same either way; the row key decides who commits.
        if (this.db.insertSegment && !row && (await fileSha256(dest)) === expect.sha256) {
          await unlink(src).catch(() => undefined);
          const held = await this.db.insertSegment(d.record, d.frags);
          if (held === null) return this.imported(d.record, true);
          if (held.sha256 === expect.sha256) return { record: held, existed: true };
        }
        continue;
      }
      this.host.reserve(buf.length);
      try {
        const fh = await open(src, "r+");
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await mkdirDurable(dirname(dest));
        await link(src, dest).catch(async (e) => {
          // EEXIST: a writer took this start a moment ago; EXDEV: another volume (copy instead).
          if ((e as { code?: string }).code === "EEXIST") throw e;
          await copyFile(src, dest, fsConstants.COPYFILE_EXCL);
          const h = await open(dest, "r+");
          await h.sync();
          await h.close();
        });
        await fsyncDir(dirname(dest));
        await unlink(src).catch(() => undefined);
      } catch (e) {
        this.host.release(buf.length);
        if ((e as { code?: string }).code === "EEXIST") {
          // Shared store: look at what the other importer linked here before moving on.
          if (this.db.insertSegment) start--;
          continue;
        }
        throw e;
      }
      const rec = d.record;
      if (this.db.insertSegment) {
        const held = await this.db.insertSegment(rec, d.frags);
        if (held !== null) {
          this.host.release(buf.length);
          // Another node committed this start first: the same bytes (our file is identical to
          // the one its row names); other bytes under a row whose file was lost: ours moves on.
          if (held.sha256 === expect.sha256) return { record: held, existed: true };
          await unlink(dest).catch(() => undefined);
          continue;
        }
        return this.imported(rec, false);
      }
      await this.host.commitRowOnly(rec, d.frags);
      this.log.info("segment imported", { segment: rec.id, bytes: rec.bytes });
      return { record: rec, existed: false };
    }
    throw new StoreInputError("no free start time for the imported segment within 1 s of its start");
  }

  /**
   * Recovers, while the store is open, the files of `scope`'s cameras that another writer left
   * behind (central: the sites of partitions this node claimed from a node that stopped):
   * lib/store/recovery.ts recoverClaimed, minus this store's own writes. Files changed within
   * `quietMs` (real time) are left and their cameras reported in `deferred`, for a later pass.
   * Runs beside writers, never beside retention.
   */
  recoverClaimed(scope: (cameraId: string) => boolean, o: { quietMs: number; nowMs?: number }): Promise<ClaimedRecovery> {
    if (this.closed) return Promise.reject(new Error("store is closed"));
    return this.exclusive(async () => {
      const busy = new Set<string>();
      for (const w of this.writers.values()) for (const s of [w.current(), ...w.closing()]) if (s) busy.add(s.path);
      const r = await recoverClaimed(this.root, this.db, this.log, { scope, quietMs: o.quietMs, nowMs: o.nowMs ?? Date.now(), busy: (p) => busy.has(p), recording: (c, st) => this.writers.has(streamKey(c, st)) });
      for (const rec of r.recovered) this.imported(rec, true);
      for (const g of r.gaps) {
        const key = streamKey(g.cameraId, g.stream);
        if (g.endMs === null) this.openGaps.set(key, g);
        else if (this.openGaps.get(key)?.startMs === g.startMs) this.openGaps.delete(key);
      }
      if (r.recovered.length || r.gaps.length) this.indexChanged();
      return r;
    });
  }

  /** A segment another part of central committed into this store's index directly (central/media CentralMedia.commit): counted and its stream's end moved on, as an import. */
  noteCommitted(rec: SegmentRecord): void {
    this.imported(rec, true);
  }

  /** Bookkeeping of a row a shared index took (insertSegment): bytes counted once, the stream's end moved on. */
  private imported(rec: SegmentRecord, countBytes: boolean): { record: SegmentRecord; existed: false } {
    if (countBytes) this.totalBytes += rec.bytes;
    const key = streamKey(rec.cameraId, rec.stream);
    if (rec.endMs > (this.lastEnd.get(key) ?? 0)) this.lastEnd.set(key, rec.endMs);
    this.log.info("segment imported", { segment: rec.id, bytes: rec.bytes });
    return { record: rec, existed: false };
  }

  /**
   * Re-files a stream's segments that start at/after `fromMs` by `shiftMs` (a host-clock step
   * undone): each file is renamed to its new start (new day folder if needed; both directories
   * fsynced), then its row is replaced. A crash in between leaves a row without file and a
   * file without row, which recovery resolves like any other.
   */
  private async refile(cameraId: string, stream: StreamKind, fromMs: number, shiftMs: number): Promise<SegmentRecord[]> {
    this.ageQuiet?.changed(cameraId);
    const rows = [...(await this.db.segments(cameraId, stream, fromMs, 8.64e15)), ...this.unindexed.filter((u) => u.cameraId === cameraId && u.stream === stream)]
      .filter((r) => r.startMs >= fromMs)
      .sort((a, b) => a.startMs - b.startMs);
    const out: SegmentRecord[] = [];
    for (const r of rows) {
      let start = r.startMs + shiftMs;
      let rel = segmentRelPath(cameraId, stream, start);
      while (await exists(join(this.root, rel))) rel = segmentRelPath(cameraId, stream, ++start);
      const from = join(this.root, r.path);
      const to = join(this.root, rel);
      await mkdirDurable(dirname(to));
      await rename(from, to);
      // Its preview carries the old times inside: dropped rather than moved (it is only a preview).
      await unlink(join(this.root, previewRelPath(r.path))).catch(() => undefined);
      await fsyncDir(dirname(to));
      await fsyncDir(dirname(from));
      const moved: SegmentRecord = { ...r, id: `${cameraId}/${stream}/${start}`, startMs: start, endMs: r.endMs + (start - r.startMs), path: rel };
      await this.db.deleteSegment(r);
      this.unindexed = this.unindexed.filter((u) => u !== r);
      await this.host.commitRowOnly(moved);
      out.push(moved);
    }
    const key = streamKey(cameraId, stream);
    const newest = out.at(-1);
    if (newest) this.lastEnd.set(key, newest.endMs);
    this.log.warn("segments re-filed after a host-clock step", { camera: cameraId, stream, segments: out.length, shiftMs });
    this.ageQuiet?.changed(cameraId); // again: a pass that ran while rows moved learned from a half-moved camera
    return out;
  }

  /** Records a gap (e.g. reported by central or ingest) durably: journal first, then index. */
  async addGap(g: GapRecord): Promise<void> {
    checkCameraId(g.cameraId);
    checkStream(g.stream);
    if (!Number.isFinite(g.startMs) || !Number.isFinite(g.endMs) || g.endMs <= g.startMs) throw new StoreInputError("gap needs finite startMs < endMs");
    const j: JournalGap = { ...g };
    await this.withRoom(() => appendGap(this.root, j));
    await this.db.putGap(j);
    this.indexChanged();
  }

  async createLock(l: Omit<EvidenceLock, "id" | "createdAtMs"> & { id?: string }): Promise<EvidenceLock> {
    checkCameraId(l.cameraId);
    if (!Number.isFinite(l.startMs) || !Number.isFinite(l.endMs) || l.endMs <= l.startMs) throw new StoreInputError("evidence lock needs a window with startMs < endMs");
    if (l.expiresAtMs !== undefined && !Number.isFinite(l.expiresAtMs)) throw new StoreInputError("expiresAtMs must be a time in ms");
    const lock: EvidenceLock = {
      id: l.id === undefined ? crypto.randomUUID() : checkLockId(l.id),
      cameraId: l.cameraId,
      startMs: Math.floor(l.startMs),
      endMs: Math.ceil(l.endMs),
      reason: String(l.reason ?? ""),
      createdBy: String(l.createdBy ?? ""),
      createdAtMs: this.clock.now(),
    };
    if (l.expiresAtMs !== undefined) lock.expiresAtMs = l.expiresAtMs;
    await this.withRoom(() => writeLock(this.root, lock));
    await this.db.putLock(lock);
    this.locksById.set(lock.id, lock);
    this.ageQuiet?.changed();
    this.indexChanged();
    this.log.info("evidence lock created", { lock: lock.id, camera: lock.cameraId });
    return lock;
  }

  async deleteLock(id: string): Promise<boolean> {
    if (typeof id !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) return false;
    const existed = await removeLock(this.root, id);
    await this.db.deleteLock(id);
    this.locksById.delete(id);
    this.ageQuiet?.changed();
    this.indexChanged();
    if (existed) this.log.info("evidence lock deleted", { lock: id });
    return existed;
  }

  async locks(cameraId?: string): Promise<EvidenceLock[]> {
    return [...this.locksById.values()].filter((l) => cameraId === undefined || l.cameraId === cameraId).sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : 1));
  }

  /** Per-camera policies, then the store-wide quota and free-space floor. Never touches locked or open segments. */
  enforceRetention(policies: (cameraId: string) => RetentionPolicy): Promise<{ deleted: SegmentRecord[]; freedBytes: number }> {
    return this.exclusive(() => retention(this.retentionHost, policies, 0));
  }

  async usage(): Promise<{ totalBytes: number; volumeFreeBytes: number; volumeTotalBytes: number; byCamera: Record<string, number> }> {
    const v = await this.volumeUsage();
    const byCamera: Record<string, number> = {};
    for (const c of await this.cameras()) byCamera[c.cameraId] = (byCamera[c.cameraId] ?? 0) + c.bytes;
    return { ...v, byCamera };
  }

  /**
   * The store's bytes and its volume's free and total bytes, without an index query: for
   * pollers (the edge's disk watcher every 10 s). usage()'s per-camera bytes are a GROUP BY
   * over every segment row, a cost that grows with the footage kept.
   */
  async volumeUsage(): Promise<{ totalBytes: number; volumeFreeBytes: number; volumeTotalBytes: number }> {
    const s = await statfs(this.root);
    return { totalBytes: this.totalBytes, volumeFreeBytes: s.bavail * s.bsize, volumeTotalBytes: s.blocks * s.bsize };
  }

  /**
   * Ends every recording session (gap "stopped"): the last segments commit and commit observers
   * see them, while the index stays open. close() does it too; a caller whose observer still
   * writes the index after a commit (edge/position's segment boxes) calls this first, lets that
   * writer finish, then close(). No writer is made after it.
   */
  async endSessions(): Promise<void> {
    if (!this.closed) await this.endWriters();
  }

  private endWriters(): Promise<void> {
    this.ending ??= (async () => {
      this.tick?.cancel();
      this.tick = undefined;
      this.atOnce?.cancel();
      this.atOnce = undefined;
      for (const w of this.writers.values()) {
        try {
          await w.end("stopped", "recorder shut down");
        } catch (e) {
          this.log.error("could not end a recording session at close", { err: e as Error });
        }
      }
    })();
    return this.ending;
  }

  /** Ends every session (endSessions), writes the CLEAN marker, checkpoints the index. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.endWriters();
    await this.retentionRunning;
    await this.flushUnindexed();
    await this.db.close(true);
    if (!this.maintenance && this.unindexed.length === 0) {
      try {
        await this.withRoom(() => writeFileDurable(join(this.root, CLEAN_FILE), `${new Date(this.clock.now()).toISOString()}\n`));
      } catch (e) {
        this.log.error("could not write the clean-shutdown marker; next start will report a crash gap", { err: e as Error });
      }
    }
  }

  /** Small metadata writes (journal, lock, marker) on a full volume: free room once and retry. */
  private async withRoom<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      await this.exclusive(() => retention(this.retentionHost, null, 1 << 20));
      return fn();
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.retentionRunning.then(fn, fn);
    this.retentionRunning = p.catch(() => undefined);
    return p;
  }

  /** A committed segment's index row (older rows still pending first); a failed write keeps the row in memory to retry. */
  private async putRow(seg: SegmentRecord, frags?: Uint8Array | null): Promise<boolean> {
    await this.flushUnindexed();
    this.ageQuiet?.rowAdded(seg.cameraId, seg.startMs);
    try {
      await this.db.putSegment(seg, frags);
    } catch (e) {
      if (e instanceof RowRefusedError) {
        await this.dropRefused(seg, e);
        return false;
      }
      this.log.error("index row not written; kept in memory and retried (the file is safe on disk)", { err: e as Error, path: seg.path });
      this.unindexed.push(seg);
    }
    return true;
  }

  /** Refused for good (another node owns the camera's site now): the segment goes, its file too. */
  private async dropRefused(seg: SegmentRecord, e: RowRefusedError): Promise<void> {
    this.log.warn("segment dropped: the index refused its row", { segment: seg.id, reason: e.message, fileKept: e.fileAdopted });
    // A file the new owner already recovered into the index is its now: only our claim to it goes.
    if (!e.fileAdopted) await unlink(join(this.root, seg.path)).catch(() => undefined);
    this.totalBytes -= seg.bytes;
  }

  /**
   * Retries rows whose write failed, one by one through putSegment as at first: a central index
   * fences each by its site's partition epoch, so a node that lost the site meanwhile cannot
   * write it late (a batch write would go around the fence).
   */
  private async flushUnindexed(): Promise<void> {
    while (this.unindexed.length) {
      const seg = this.unindexed[0]!;
      this.ageQuiet?.rowAdded(seg.cameraId, seg.startMs);
      try {
        await this.db.putSegment(seg);
      } catch (e) {
        if (!(e instanceof RowRefusedError)) {
          this.log.warn("index still not writable; segments stay on disk and are indexed at next start", { err: e as Error, pending: this.unindexed.length });
          return;
        }
        await this.dropRefused(seg, e);
      }
      // (refile may have replaced the list meanwhile)
      this.unindexed = this.unindexed.filter((u) => u !== seg);
    }
  }

  private freeBytes = async (): Promise<number> => {
    const s = await statfs(this.root);
    return s.bavail * s.bsize;
  };

  private get retentionHost() {
    return {
      db: this.db,
      root: this.root,
      clock: this.clock,
      log: this.log,
      maxTotalBytes: this.maxTotalBytes,
      minFreeBytes: this.minFreeBytes,
      locks: () => [...this.locksById.values()],
      totalBytes: () => this.totalBytes,
      freeBytes: this.freeBytes,
      forget: (s: SegmentRecord) => {
        this.totalBytes -= s.bytes;
      },
      ...(this.ageQuiet ? { quiet: this.ageQuiet } : {}),
      ...(this.retentionScope ? { scope: this.retentionScope } : {}),
    };
  }

}

function checkQuery(q: TimelineQuery): { cameraId: string; stream: StreamKind; fromMs: number; toMs: number } {
  if (!q || typeof q !== "object") throw new StoreInputError("timeline query is required");
  const stream = q.stream ?? "main";
  if (!isStream(stream)) throw new StoreInputError(`invalid stream ${JSON.stringify(q.stream)}: expected "main" or "sub"`);
  if (typeof q.fromMs !== "number" || typeof q.toMs !== "number" || !Number.isFinite(q.fromMs) || !Number.isFinite(q.toMs)) {
    throw new StoreInputError("from and to must be valid times");
  }
  if (q.toMs <= q.fromMs) throw new StoreInputError(`the window is inverted or empty: from (${new Date(q.fromMs).toISOString()}) must be before to (${new Date(q.toMs).toISOString()})`);
  return { cameraId: String(q.cameraId), stream, fromMs: q.fromMs, toMs: q.toMs };
}

const DEFAULT_MIN_FREE = 256 * 1024 * 1024;

/**
 * The free-space floor against the volume: absent = 256 MiB or 5 % of the volume, whichever is
 * less; a floor not below the volume's size is refused (retention would delete every segment
 * as soon as it closed), one above half of it is warned about.
 */
async function checkFreeFloor(root: string, asked: number | undefined, log: Logger): Promise<number> {
  const s = await statfs(root);
  const volume = s.blocks * s.bsize;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  if (asked === undefined) return Math.min(DEFAULT_MIN_FREE, Math.floor(volume * 0.05));
  if (!(asked >= 0)) throw new StoreInputError("minFreeBytes must be 0 or more");
  if (asked > 0 && asked >= volume) {
    throw new StoreInputError(
      `minFreeBytes (${mib(asked)}) is not below the size of the volume holding ${root} (${mib(volume)}): retention would delete every segment as soon as it closed. Set it well below the volume size (e.g. ${mib(Math.floor(volume * 0.05))}) or leave it out.`,
    );
  }
  if (asked > volume / 2) log.warn("minFreeBytes is more than half of the volume: most of the disk stays unused and retention deletes early", { minFreeBytes: asked, volumeBytes: volume });
  return asked;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens the index; an unreadable file (corrupt, failed WAL replay) is moved aside and rebuilt
 * from disk. A store whose index is still the DuckDB file of earlier versions gets its segment
 * rows copied over once (migrateLegacyIndex).
 */
async function openIndex(root: string, log: Logger): Promise<SqliteIndex> {
  const path = join(root, INDEX_FILE);
  const fresh = !(await exists(path));
  let db: SqliteIndex;
  try {
    db = await SqliteIndex.open(path);
  } catch (e) {
    if ((e as Error).name === "StoreLockedError") throw e;
    const aside = `${path}.unreadable-${Date.now()}`;
    log.error("index unreadable; moving it aside and rebuilding from disk", { err: e as Error, aside });
    await rename(path, aside);
    for (const ext of ["-wal", "-shm"]) await rename(`${path}${ext}`, `${aside}${ext}`).catch(() => undefined);
    return SqliteIndex.open(path);
  }
  if (fresh && (await exists(join(root, LEGACY_INDEX_FILE)))) await migrateLegacyIndex(root, db, log);
  return db;
}

/**
 * Copies the segment rows (with their fragment tables and hashes) of a DuckDB index left by an
 * earlier version into the new index, then removes the old file. Without this, recovery would
 * index every file again (reading each one) before the first recording. Gaps and locks come
 * from their journals and lock files anyway; companion tables rebuild from their own files.
 * DuckDB is loaded only here, so a recorder that never had the old file never maps its library.
 */
async function migrateLegacyIndex(root: string, db: SqliteIndex, log: Logger): Promise<void> {
  const legacy = join(root, LEGACY_INDEX_FILE);
  try {
    const { IndexDb, readAllRows } = await import("./db.ts");
    const old = await IndexDb.open(legacy, { readOnly: true });
    try {
      const { segments, frags } = await readAllRows(old);
      await db.putSegments(segments, frags);
      log.info("index moved from DuckDB to SQLite", { segments: segments.length });
    } finally {
      await old.close(false);
    }
  } catch (e) {
    log.warn("old DuckDB index not readable; recovery indexes the files instead", { err: e as Error });
  }
  await unlink(legacy).catch(() => undefined);
  await unlink(`${legacy}.wal`).catch(() => undefined);
  await fsyncDir(root);
}

/** SHA-256 (hex) of a whole file. */
async function fileSha256(abs: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  h.update(await readWhole(abs));
  return h.digest("hex");
}

/** Whether the ascending list holds x (binary search). */
function sortedIncludes(sorted: readonly number[], x: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo] === x;
}
