/**
 * `outpost check`: compares what is on disk (segment files, gap journals, lock files) with
 * the index, read-only; with rebuild, throws the index away and derives a new one from disk.
 */
import { access, readdir, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createLogger, type Logger } from "../log/index.ts";
import type { EvidenceLock } from "./types.ts";
import { SqliteIndex } from "./sqlite-index.ts";
import { CLEAN_FILE, GAPS_DIR, INDEX_FILE, LEGACY_INDEX_FILE, LOCKS_DIR, MEDIA_DIR } from "./layout.ts";
import { describe, listMedia, readWhole } from "./files.ts";
import { readGaps, readLocks, type JournalGap } from "./journal.ts";
import { NotAStoreError } from "./errors.ts";
import { MediaStore } from "./store.ts";
import type { RecoveryReport } from "./recovery.ts";

export type CheckProblemKind =
  | "index-missing"
  | "index-unreadable"
  | "row-without-file"
  | "file-without-row"
  | "size-mismatch"
  | "hash-mismatch"
  | "torn-tail"
  | "unplayable"
  | "stray-file"
  | "temp-file"
  | "gap-mismatch"
  | "lock-mismatch"
  | "bad-lock-file";

export interface CheckProblem {
  kind: CheckProblemKind;
  path?: string;
  detail: string;
}

/**
 * What a power cut or kill leaves behind and every normal start repairs by itself (recovery):
 * the open segment without a row, its torn tail or an unplayable new file, a row whose file
 * retention had just unlinked, journal lines and lock files the index had not caught up with.
 * After an unclean shutdown these are reported as `recoverable`, not as problems.
 */
const RECOVERED_ON_START = new Set<CheckProblemKind>(["temp-file", "file-without-row", "torn-tail", "unplayable", "row-without-file", "gap-mismatch", "lock-mismatch"]);

export interface CheckReport {
  root: string;
  /** True when disk and index agree (after the rebuild, if one ran). */
  ok: boolean;
  /**
   * After an unclean shutdown: findings the recorder's next start recovers by itself (no
   * corruption). `problems` then holds only what recovery would not explain.
   */
  recoverable: CheckProblem[];
  rebuilt: boolean;
  /** Whether the last recorder run closed cleanly (CLEAN marker present). */
  clean: boolean;
  files: number;
  rows: number;
  bytes: number;
  gaps: number;
  locks: number;
  problems: CheckProblem[];
  /** With rebuild: what was found before, and what the rebuild did. */
  before?: CheckProblem[];
  actions?: RecoveryReport["actions"];
}

export async function checkStore(root: string, opts: { rebuild: boolean; log?: Logger }): Promise<CheckReport> {
  const dir = resolve(root);
  await assertStore(dir);
  const log = opts.log ?? createLogger("check");
  const first = await inspect(dir);
  if (!opts.rebuild) return first;
  // The old index is derived data; remove it only once we know nobody owns it (inspect opened it).
  // Both the index and an earlier version's (which a start would otherwise copy rows from).
  for (const f of [INDEX_FILE, `${INDEX_FILE}-wal`, `${INDEX_FILE}-shm`, LEGACY_INDEX_FILE, `${LEGACY_INDEX_FILE}.wal`]) await rm(join(dir, f), { force: true });
  const store = await MediaStore.open({ root: dir, log, maintenance: true, minFreeBytes: 0 });
  const actions = store.recovery.actions;
  await store.close();
  const after = await inspect(dir);
  return { ...after, rebuilt: true, before: first.problems, actions };
}

async function assertStore(dir: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new NotAStoreError(`${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new NotAStoreError(`${dir} is not a directory`);
  const names = new Set(await readdir(dir));
  if (![INDEX_FILE, LEGACY_INDEX_FILE, MEDIA_DIR, GAPS_DIR, LOCKS_DIR].some((n) => names.has(n))) {
    throw new NotAStoreError(`${dir} is not an Outpost store (no ${INDEX_FILE}, ${MEDIA_DIR}/, ${GAPS_DIR}/ or ${LOCKS_DIR}/ in it)`);
  }
}

async function inspect(dir: string): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  const clean = await access(join(dir, CLEAN_FILE)).then(() => true, () => false);
  let db: SqliteIndex | null = null;
  const hasIndex = await access(join(dir, INDEX_FILE)).then(() => true, () => false);
  const hasLegacy = await access(join(dir, LEGACY_INDEX_FILE)).then(() => true, () => false);
  if (!hasIndex && hasLegacy) problems.push({ kind: "index-missing", detail: `the index is still ${LEGACY_INDEX_FILE} of an earlier version; the next start moves it to ${INDEX_FILE}` });
  else if (!hasIndex) problems.push({ kind: "index-missing", detail: `${INDEX_FILE} is missing; run with --rebuild` });
  else {
    try {
      db = await SqliteIndex.open(join(dir, INDEX_FILE), { readOnly: true });
      if (!db.tableExists("segments")) {
        problems.push({ kind: "index-unreadable", detail: "index has no segments table" });
        await db.close(false);
        db = null;
      }
    } catch (e) {
      if ((e as Error).name === "StoreLockedError") throw e;
      problems.push({ kind: "index-unreadable", detail: (e as Error).message });
    }
  }
  try {
    const { segments: files, temps, strays } = await listMedia(dir);
    for (const s of strays) problems.push({ kind: "stray-file", path: s, detail: "not a segment file name this store writes" });
    for (const t of temps) problems.push({ kind: "temp-file", path: t, detail: "an interrupted sidecar write (removed at the next start)" });
    const rows = db ? await db.allSegments() : [];
    const rowByPath = new Map(rows.map((r) => [r.path, r]));
    const filePaths = new Set(files.map((f) => f.path));
    let bytes = 0;
    for (const r of rows) if (!filePaths.has(r.path)) problems.push({ kind: "row-without-file", path: r.path, detail: "index row whose file is gone" });
    for (const f of files) {
      bytes += f.size;
      const d = describe(f.path, await readWhole(join(dir, f.path)));
      if (!d.record) {
        problems.push({ kind: "unplayable", path: f.path, detail: `no whole keyframe fragment in ${f.size} bytes` });
        continue;
      }
      if (d.record.bytes < f.size) problems.push({ kind: "torn-tail", path: f.path, detail: `${f.size - d.record.bytes} bytes after the last whole fragment` });
      const row = rowByPath.get(f.path);
      if (!row) {
        if (db) problems.push({ kind: "file-without-row", path: f.path, detail: "segment file not in the index" });
        continue;
      }
      if (row.bytes !== f.size) problems.push({ kind: "size-mismatch", path: f.path, detail: `index says ${row.bytes} bytes, file has ${f.size}` });
      else if (row.sha256 && row.sha256 !== d.record.sha256) problems.push({ kind: "hash-mismatch", path: f.path, detail: "SHA-256 of the file differs from the index" });
    }

    const journal = await readGaps(dir);
    const { locks, bad } = await readLocks(dir);
    for (const b of bad) problems.push({ kind: "bad-lock-file", path: b, detail: "evidence lock file cannot be read" });
    if (db) {
      diff(journal.map(gapKey), (await db.allGaps()).map(gapKey), "gap-mismatch", "gap", problems);
      diff(locks.map(lockKey), (await db.allLocks()).map(lockKey), "lock-mismatch", "lock", problems);
    }
    const recoverable = clean || !db ? [] : problems.filter((p) => RECOVERED_ON_START.has(p.kind));
    const rest = problems.filter((p) => !recoverable.includes(p));
    return { root: dir, ok: problems.length === 0, recoverable, rebuilt: false, clean, files: files.length, rows: rows.length, bytes, gaps: journal.length, locks: locks.length, problems: rest };
  } finally {
    await db?.close(false);
  }
}

function gapKey(g: JournalGap): string {
  return `${g.cameraId}/${g.stream} ${new Date(g.startMs).toISOString()}..${g.endMs === null ? "open" : new Date(g.endMs).toISOString()} ${g.reason}`;
}

function lockKey(l: EvidenceLock): string {
  return `${l.id} ${l.cameraId} ${l.startMs}-${l.endMs} exp=${l.expiresAtMs ?? "-"}`;
}

function diff(disk: string[], index: string[], kind: CheckProblemKind, what: string, out: CheckProblem[]): void {
  const a = new Set(disk);
  const b = new Set(index);
  for (const k of a) if (!b.has(k)) out.push({ kind, detail: `${what} on disk but not in the index: ${k}` });
  for (const k of b) if (!a.has(k)) out.push({ kind, detail: `${what} in the index but not on disk: ${k}` });
}
