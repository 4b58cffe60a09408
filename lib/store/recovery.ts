/**
 * Startup reconciliation of disk and index, both ways: torn tails trimmed, orphan files
 * indexed (or removed when nothing in them plays), rows without files dropped, gaps and
 * locks reloaded from their files, and a "crash" gap opened for every stream when the last
 * run did not close cleanly. Also the rebuild path of `outpost check --rebuild`.
 */
import { open, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "../log/index.ts";
import type { StoreIndex } from "./db.ts";
import type { EvidenceLock, SegmentRecord, StreamKind } from "./types.ts";
import { RowRefusedError } from "./errors.ts";
import { appendGap, readGaps, readLocks, streamKey, type JournalGap } from "./journal.ts";
import { describe, listMedia, readWhole, type Described, type DiskFile } from "./files.ts";
import { fsyncDir, parseSegmentPath, previewSegmentPath } from "./layout.ts";

export type RecoveryAction = "trimmed" | "indexed-orphan" | "removed-unplayable" | "dropped-row" | "row-without-file" | "crash-gap" | "closed-gap" | "removed-temp" | "left-to-owner";

export interface RecoveryReport {
  actions: { action: RecoveryAction; path?: string; detail: string }[];
}

export interface RecoveryResult {
  report: RecoveryReport;
  /** Per stream: end of the last indexed segment. */
  lastEnd: Map<string, number>;
  /** Per stream: gap still open (recording has not resumed since). */
  openGaps: Map<string, JournalGap>;
  /** The locks, as the index now holds them (read from their files). */
  locks: EvidenceLock[];
  /** Bytes of all indexed segments. */
  totalBytes: number;
}

export interface RecoverOptions {
  crashGaps: boolean;
  keepRowsWithoutFile?: boolean;
  /**
   * Cameras whose files, journals and crash gaps recovery may change (default all). Several
   * central nodes on one store: a file without a row may be another node's segment being
   * written or imported right now, so a starting node leaves other nodes' cameras alone.
   */
  scope?: (cameraId: string) => boolean;
}

/** What recovery reads from disk before it changes anything: the lock files, the media folders, the gap journals. */
export interface DiskState {
  locks: Awaited<ReturnType<typeof readLocks>>;
  media: Awaited<ReturnType<typeof listMedia>>;
  gaps: JournalGap[];
}

/**
 * Reads what recovery needs of the disk; MediaStore.open runs it while DuckDB opens the index
 * (its threads, not this one), so the walk is off a start's critical path.
 */
export async function readDisk(root: string): Promise<DiskState> {
  const [locks, media, gaps] = await Promise.all([readLocks(root), listMedia(root, { sizes: false }), readGaps(root)]);
  return { locks, media, gaps };
}

export async function recover(root: string, db: StoreIndex, log: Logger, opts: RecoverOptions, disk?: DiskState): Promise<RecoveryResult> {
  const { locks: lockFiles, media, gaps } = disk ?? (await readDisk(root));
  const inScope = (cameraId: string | undefined) => cameraId !== undefined && (!opts.scope || opts.scope(cameraId));
  const report: RecoveryReport = { actions: [] };
  const act = (action: RecoveryAction, detail: string, path?: string) => {
    report.actions.push(path ? { action, path, detail } : { action, detail });
    log.warn(`recovery: ${action}`, path ? { path, detail } : { detail });
  };

  // Locks: leftovers of an interrupted write are incomplete by construction (rename never happened).
  const { locks, bad, tmp } = lockFiles;
  // Another node may be writing a lock right now: temps are left to a node that recovers alone.
  for (const t of opts.scope ? [] : tmp) {
    await unlink(join(root, t)).catch(() => undefined);
    act("removed-temp", "interrupted lock write", t);
  }
  for (const b of bad) log.error("unreadable evidence lock file kept as is; fix or remove it by hand", { path: b });

  // Segments: files vs rows. Only a file without an index row can have been open when the last
  // run stopped: the writer adds a row once the file is closed and fsynced (imports and refiles
  // too), so an indexed file is whole and is neither stat'ed nor read here — a start costs a walk
  // of the folders plus the unindexed files, not a stat per file (20,000 files: ~500 → ~15 ms).
  // `outpost check` (lib/store/check.ts) still compares every file's size with its row.
  const { segments: files, previews, temps, strays } = media;
  // A sidecar write the crash interrupted (its rename never happened): nothing refers to it.
  for (const t of temps) {
    await unlink(join(root, t)).catch(() => undefined);
    act("removed-temp", "interrupted sidecar write", t);
  }
  // A preview outlives its segment only if we stopped between the two unlinks: it goes too.
  const segmentFiles = new Set(files.map((f) => f.path));
  for (const p of previews) {
    if (segmentFiles.has(previewSegmentPath(p)!)) continue;
    if (!inScope(parseSegmentPath(previewSegmentPath(p) ?? "")?.cameraId)) continue;
    await unlink(join(root, p)).catch(() => undefined);
  }
  const rows = await db.allSegments();
  const rowByPath = new Map(rows.map((r) => [r.path, r]));
  // A shared index's rows may name files of other names (central/media's commit blobs): those exist too.
  const filePaths = new Set([...files.map((f) => f.path), ...(opts.keepRowsWithoutFile ? strays : [])]);
  // What the index holds once this pass is done: lastEnd, the starts and the byte total come from
  // it, not from more queries (each one a round trip on the start's critical path).
  const indexed: SegmentRecord[] = [];
  for (const r of rows) {
    if (filePaths.has(r.path) || opts.keepRowsWithoutFile) indexed.push(r);
    if (filePaths.has(r.path)) continue;
    // A shared index (central's, in PostgreSQL) keeps the row: reported, for an operator to restore the file or delete the row.
    if (opts.keepRowsWithoutFile) {
      act("row-without-file", "index row without a file: kept and reported", r.path);
      continue;
    }
    await db.deleteSegment(r);
    act("dropped-row", "index row without a file", r.path);
  }
  const found: SegmentRecord[] = [];
  const foundFrags: (Uint8Array | null)[] = [];
  const dirsToSync = new Set<string>();
  for (const f of files) {
    if (rowByPath.has(f.path)) continue;
    if (!inScope(parseSegmentPath(f.path)?.cameraId)) continue;
    const d = await salvage(root, f, act, dirsToSync);
    if (!d?.record) continue;
    found.push(d.record);
    foundFrags.push(d.frags);
    act("indexed-orphan", `file without index row; ${d.scan.fragments.length} fragments, ${d.record.endMs - d.record.startMs} ms`, f.path);
  }
  for (const d of dirsToSync) await fsyncDir(d);
  if (found.length) await db.putSegments(found, foundFrags);
  indexed.push(...found);

  // Gaps: close gaps that recording resumed after (the closing record may not have been written).
  const lastEnd = new Map<string, number>();
  const startsOf = new Map<string, number[]>();
  let totalBytes = 0;
  for (const r of indexed) {
    const key = streamKey(r.cameraId, r.stream);
    lastEnd.set(key, Math.max(lastEnd.get(key) ?? r.endMs, r.endMs));
    const starts = startsOf.get(key);
    if (starts) starts.push(r.startMs);
    else startsOf.set(key, [r.startMs]);
    totalBytes += r.bytes;
  }
  const openGaps = new Map<string, JournalGap>();
  for (const g of gaps) {
    if (g.endMs !== null) continue;
    const key = streamKey(g.cameraId, g.stream);
    let next: number | undefined; // the first segment recorded after the gap opened
    for (const s of startsOf.get(key) ?? []) if (s >= g.startMs && (next === undefined || s < next)) next = s;
    if (next !== undefined && inScope(g.cameraId)) {
      g.endMs = next;
      await appendGap(root, g);
      act("closed-gap", `${g.reason} gap closed at the segment recorded after it`, `${g.cameraId}/${g.stream}`);
    } else {
      openGaps.set(key, g);
    }
  }
  if (opts.crashGaps) {
    for (const [key, end] of lastEnd) {
      if (openGaps.has(key)) continue;
      const [cameraId, stream] = key.split("\u0000") as [string, StreamKind];
      if (!inScope(cameraId)) continue;
      const g: JournalGap = { cameraId, stream, startMs: end, endMs: null, reason: "crash", detail: "recorder did not shut down cleanly" };
      await appendGap(root, g);
      openGaps.set(key, g);
      gaps.push(g);
      act("crash-gap", `recording stopped without a clean shutdown at ${new Date(end).toISOString()}`, `${cameraId}/${stream}`);
    }
  }
  await db.replaceGapsAndLocks(gaps.filter((g) => g.endMs === null || g.endMs > g.startMs), locks);
  return { report, lastEnd, openGaps, locks, totalBytes };
}

type Act = (action: RecoveryAction, detail: string, path?: string) => void;

/**
 * One segment file its index does not describe, made what the writer would have left: nothing
 * playable → removed; a torn tail → cut at the last whole fragment. Returns its description
 * (the row it should have), or null when it was removed.
 */
async function salvage(root: string, f: DiskFile, act: Act, dirsToSync: Set<string>): Promise<Described | null> {
  const abs = join(root, f.path);
  const buf = await readWhole(abs);
  f.size = buf.length; // a walk without sizes (recovery at start) leaves it unknown
  const d = describe(f.path, buf);
  if (!d.record) {
    await unlink(abs);
    dirsToSync.add(dirname(abs));
    act("removed-unplayable", `no whole keyframe fragment in ${f.size} bytes`, f.path);
    return null;
  }
  if (d.record.bytes < f.size) {
    const h = await open(abs, "r+");
    try {
      await h.truncate(d.record.bytes);
      await h.sync();
    } finally {
      await h.close();
    }
    act("trimmed", `torn tail: ${f.size - d.record.bytes} of ${f.size} bytes cut`, f.path);
  }
  return d;
}

export interface ClaimedRecoverOptions {
  /** Cameras of the sites this node just took over (central: the sites of the partitions it claimed). */
  scope: (cameraId: string) => boolean;
  /**
   * A file changed less than this long ago may be a write in progress on another node (a
   * writer touches its open file at every fragment): it is left for a later pass.
   */
  quietMs: number;
  /** Now, real time (compared with files' modification times). */
  nowMs: number;
  /** Files this process writes itself right now (its writers' open and closing segments). */
  busy: (path: string) => boolean;
  /** Streams this process records: their writer keeps its own gaps. */
  recording: (cameraId: string, stream: StreamKind) => boolean;
}

export interface ClaimedRecovery {
  report: RecoveryReport;
  /** Rows committed for files another writer left without one. */
  recovered: SegmentRecord[];
  /** Cameras with files left for a later pass (changed too recently, or the index refused them). */
  deferred: Set<string>;
  /** Gaps written here (opened at an interrupted stream's end, or closed): the store's writers start from them. */
  gaps: JournalGap[];
}

/**
 * Startup recovery's file side for cameras another writer left behind while this store stays
 * open (several central nodes on one store: the sites a node takes over from one that
 * stopped): a segment file without a row is cut at its last whole fragment and indexed, or
 * removed when nothing in it plays; interrupted atomic writes (temp files) are removed; a
 * stream whose newest file was such a leftover gets a "crash" gap from where it now ends; an
 * open gap that recording resumed after is closed. Unlike startup it leaves alone what may be
 * in use — files changed within `quietMs`, this process's own writes, files that have a row
 * (even of another size: `check` reports those) — and writes each row through the index's
 * putSegment, which central fences by the partition epoch: a node that lost the site meanwhile
 * cannot index it ("left-to-owner").
 */
export async function recoverClaimed(root: string, db: StoreIndex, log: Logger, o: ClaimedRecoverOptions): Promise<ClaimedRecovery> {
  const out: ClaimedRecovery = { report: { actions: [] }, recovered: [], deferred: new Set(), gaps: [] };
  const act: Act = (action, detail, path) => {
    out.report.actions.push(path ? { action, path, detail } : { action, detail });
    log.warn(`recovery of a site taken over: ${action}`, path ? { path, detail } : { detail });
  };
  const quiet = async (rel: string) => {
    const st = await stat(join(root, rel)).catch(() => null);
    return st !== null && st.mtimeMs <= o.nowMs - o.quietMs;
  };
  const { segments: files, temps } = await listMedia(root, { cameras: o.scope });
  const dirsToSync = new Set<string>();
  for (const t of temps) {
    if (!(await quiet(t))) {
      out.deferred.add(t.split("/")[1]!);
      continue;
    }
    await unlink(join(root, t)).catch(() => undefined);
    act("removed-temp", "interrupted sidecar write of a node that stopped", t);
  }
  const byStream = new Map<string, DiskFile[]>();
  for (const f of files) {
    const who = parseSegmentPath(f.path)!;
    const key = streamKey(who.cameraId, who.stream);
    byStream.set(key, [...(byStream.get(key) ?? []), f]);
  }
  /** Per stream: where it ends now, when its newest file was a leftover (a writer stopped mid-segment). */
  const interrupted = new Map<string, number>();
  for (const [key, list] of byStream) {
    const [cameraId, stream] = key.split("\u0000") as [string, StreamKind];
    const rows = new Map((await db.segmentsLite(cameraId, stream, 0, 8.64e15)).map((r) => [r.path, r]));
    let lastEnd = Math.max(0, ...[...rows.values()].map((r) => r.endMs));
    for (const f of list) {
      if (rows.has(f.path) || o.busy(f.path)) continue;
      if (!(await quiet(f.path))) {
        out.deferred.add(cameraId);
        continue;
      }
      const tail = parseSegmentPath(f.path)!.startMs >= lastEnd;
      const d = await salvage(root, f, act, dirsToSync);
      if (d?.record) {
        try {
          await db.putSegment(d.record, d.frags);
        } catch (e) {
          if (!(e instanceof RowRefusedError)) throw e;
          out.deferred.add(cameraId);
          act("left-to-owner", `not indexed: ${e.message}`, f.path);
          continue;
        }
        out.recovered.push(d.record);
        act("indexed-orphan", `file without index row (its writer stopped); ${d.scan.fragments.length} fragments, ${d.record.endMs - d.record.startMs} ms`, f.path);
        lastEnd = Math.max(lastEnd, d.record.endMs);
      }
      if (tail) interrupted.set(key, lastEnd);
    }
  }
  for (const d of dirsToSync) await fsyncDir(d);

  // Gaps of these cameras, from their journals (the truth, as at startup).
  const open = new Map<string, JournalGap>();
  for (const g of await readGaps(root, o.scope)) if (g.endMs === null) open.set(streamKey(g.cameraId, g.stream), g);
  const write = async (g: JournalGap) => {
    await appendGap(root, g);
    await db.putGap(g);
    out.gaps.push(g);
  };
  for (const [key, g] of open) {
    if (o.recording(g.cameraId, g.stream)) continue;
    const next = (await db.starts(g.cameraId, g.stream)).find((s) => s >= g.startMs);
    if (next === undefined) continue;
    await write({ ...g, endMs: next });
    open.delete(key);
    act("closed-gap", `${g.reason} gap closed at the segment recorded after it`, `${g.cameraId}/${g.stream}`);
  }
  for (const [key, end] of interrupted) {
    const [cameraId, stream] = key.split("\u0000") as [string, StreamKind];
    if (open.has(key) || o.recording(cameraId, stream) || end === 0) continue;
    await write({ cameraId, stream, startMs: end, endMs: null, reason: "crash", detail: "the node recording it stopped without a clean shutdown" });
    act("crash-gap", `recording stopped without a clean shutdown at ${new Date(end).toISOString()}`, `${cameraId}/${stream}`);
  }
  return out;
}
