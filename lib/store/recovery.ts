/**
 * Startup reconciliation of disk and index, both ways: torn tails trimmed, orphan files
 * indexed (or removed when nothing in them plays), rows without files dropped, gaps and
 * locks reloaded from their files, and a "crash" gap opened for every stream when the last
 * run did not close cleanly. Also the rebuild path of `outpost check --rebuild`.
 */
import { open, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Logger } from "../log/index.ts";
import type { StoreIndex } from "./db.ts";
import type { SegmentRecord, StreamKind } from "./types.ts";
import { appendGap, readGaps, readLocks, streamKey, type JournalGap } from "./journal.ts";
import { describe, listMedia, readWhole } from "./files.ts";
import { fsyncDir, parseSegmentPath, previewSegmentPath } from "./layout.ts";

export type RecoveryAction = "trimmed" | "indexed-orphan" | "removed-unplayable" | "dropped-row" | "row-without-file" | "crash-gap" | "closed-gap" | "removed-temp";

export interface RecoveryReport {
  actions: { action: RecoveryAction; path?: string; detail: string }[];
}

export interface RecoveryResult {
  report: RecoveryReport;
  /** Per stream: end of the last indexed segment. */
  lastEnd: Map<string, number>;
  /** Per stream: gap still open (recording has not resumed since). */
  openGaps: Map<string, JournalGap>;
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

export async function recover(root: string, db: StoreIndex, log: Logger, opts: RecoverOptions): Promise<RecoveryResult> {
  const inScope = (cameraId: string | undefined) => cameraId !== undefined && (!opts.scope || opts.scope(cameraId));
  const report: RecoveryReport = { actions: [] };
  const act = (action: RecoveryAction, detail: string, path?: string) => {
    report.actions.push(path ? { action, path, detail } : { action, detail });
    log.warn(`recovery: ${action}`, path ? { path, detail } : { detail });
  };

  // Locks: leftovers of an interrupted write are incomplete by construction (rename never happened).
  const { locks, bad, tmp } = await readLocks(root);
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
  const { segments: files, previews, temps } = await listMedia(root, { sizes: false });
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
  const filePaths = new Set(files.map((f) => f.path));
  for (const r of rows) {
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
    const abs = join(root, f.path);
    const buf = await readWhole(abs);
    f.size = buf.length;
    const d = describe(f.path, buf);
    if (!d.record) {
      await unlink(abs);
      dirsToSync.add(dirname(abs));
      act("removed-unplayable", `no whole keyframe fragment in ${f.size} bytes`, f.path);
      continue;
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
    found.push(d.record);
    foundFrags.push(d.frags);
    act("indexed-orphan", `file without index row; ${d.scan.fragments.length} fragments, ${d.record.endMs - d.record.startMs} ms`, f.path);
  }
  for (const d of dirsToSync) await fsyncDir(d);
  if (found.length) await db.putSegments(found, foundFrags);

  // Gaps: close gaps that recording resumed after (the closing record may not have been written).
  const lastEnd = new Map<string, number>();
  const firstStarts = new Map<string, number[]>();
  for (const r of await db.lastEnds()) lastEnd.set(streamKey(r.cameraId, r.stream), r.endMs);
  const gaps = await readGaps(root);
  const openGaps = new Map<string, JournalGap>();
  for (const g of gaps) {
    if (g.endMs !== null) continue;
    const key = streamKey(g.cameraId, g.stream);
    let starts = firstStarts.get(key);
    if (!starts) {
      starts = await db.starts(g.cameraId, g.stream);
      firstStarts.set(key, starts);
    }
    const next = starts.find((s) => s >= g.startMs);
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
  return { report, lastEnd, openGaps };
}
