/**
 * An upgraded installation's recordings into central's segment index, once: the rows of the
 * per-store file index (DATA/store/index.sqlite, or index.duckdb of older versions) when it can
 * be read, else rebuilt from the segment files themselves (the files are the truth; the file
 * index was derived from them).
 * The files stay where they are: their paths become the blob keys. A media_imports row marks
 * the import done, in the same transaction as the rows, so two nodes starting at once import
 * once. The index file is left as it was.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../../lib/log/index.ts";
import { INDEX_FILE, LEGACY_INDEX_FILE, describeSegmentFile, listMedia, readGaps, type SegmentRecord } from "../../lib/store/index.ts";
import { IndexDb, readAllRows, type StoreIndex } from "../../lib/store/db.ts";
import { SqliteIndex } from "../../lib/store/sqlite-index.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { Database, SqlValue } from "../db/index.ts";
import { SegmentIndex, type MediaSegment } from "./segments.ts";

export interface LegacyImport {
  /** Where the rows came from; "done" = imported by an earlier start (or another node). */
  source: "index" | "files" | "done" | "empty";
  segments: number;
  gaps: number;
  /** Rows whose camera id is not central's `site.camera` (nothing central could have written): left out. */
  skipped: number;
}

const SOURCE = "store";

export async function importLegacyStore(db: Database, root: string, log: Logger, nowMs = Date.now()): Promise<LegacyImport> {
  if ((await db.query(`SELECT 1 FROM media_imports WHERE source = $1`, [SOURCE])).length) return { source: "done", segments: 0, gaps: 0, skipped: 0 };
  const found = (await readIndex(root, log)) ?? (await readFiles(root));
  let skipped = 0;
  const rows: MediaSegment[] = [];
  const frags: (Uint8Array | null)[] = [];
  found.segments.forEach((s, i) => {
    const who = splitCentralCameraId(s.cameraId);
    if (!who || !s.sha256) return void skipped++;
    rows.push({ ...s, siteId: who.siteId, siteCameraId: who.cameraId, sha256: s.sha256, blobKey: s.path });
    frags.push(found.frags[i] ?? null);
  });
  const gaps: SqlValue[][] = [];
  for (const g of found.gaps) {
    const who = splitCentralCameraId(g.cameraId);
    if (!who) skipped++;
    else gaps.push([who.siteId, who.cameraId, g.stream, g.startMs, g.endMs, g.reason, g.detail ?? null]);
  }
  const source = found.source === "index" || rows.length || gaps.length ? found.source : "empty";
  return db.transaction(async (tx) => {
    const mine = await tx.run(`INSERT INTO media_imports (source, imported_ms, segments, gaps) VALUES ($1, $2, $3, $4) ON CONFLICT (source) DO NOTHING`, [SOURCE, nowMs, rows.length, gaps.length]);
    if (mine === 0) return { source: "done", segments: 0, gaps: 0, skipped: 0 } as const;
    const index = new SegmentIndex(db);
    const segments = await index.insertMany(rows, frags, nowMs, tx);
    const g = gaps.length ? await tx.copyRows("media_gaps", ["site_id", "camera_id", "stream", "start_ms", "end_ms", "reason", "detail"], gaps) : 0;
    if (segments || g) log.info("central's recordings indexed in the database (once, from the store of the previous version)", { source, segments, gaps: g, skipped });
    return { source, segments, gaps: g, skipped };
  });
}

interface Found {
  source: "index" | "files";
  segments: SegmentRecord[];
  frags: (Uint8Array | null)[];
  gaps: { cameraId: string; stream: "main" | "sub"; startMs: number; endMs: number | null; reason: string; detail?: string }[];
}

/** The file index's rows with their fragment tables (SQLite, else an older DuckDB one); null when there is none or it cannot be read. */
async function readIndex(root: string, log: Logger): Promise<Found | null> {
  const sqlite = path.join(root, INDEX_FILE);
  const duckdb = path.join(root, LEGACY_INDEX_FILE);
  const file = existsSync(sqlite) ? sqlite : existsSync(duckdb) ? duckdb : null;
  if (!file) return null;
  let idx: StoreIndex & { tableExists(name: string): boolean | Promise<boolean> };
  try {
    idx = file === sqlite ? await SqliteIndex.open(file, { readOnly: true }) : await IndexDb.open(file, { readOnly: true });
  } catch (e) {
    log.warn("the store's index cannot be read; indexing central's recordings from the files instead", { err: e as Error, file });
    return null;
  }
  try {
    if (!(await idx.tableExists("segments"))) return null;
    const { segments, frags, gaps } = await readAllRows(idx);
    return { source: "index", segments, frags, gaps };
  } finally {
    await idx.close(false);
  }
}

/** Rebuilt from the files: each segment described as the writer did (hash, duration, fragment table). */
async function readFiles(root: string): Promise<Found> {
  const { segments: files } = await listMedia(root);
  const segments: SegmentRecord[] = [];
  const frags: (Uint8Array | null)[] = [];
  for (const f of files) {
    const d = describeSegmentFile(f.path, new Uint8Array(await Bun.file(path.join(root, f.path)).arrayBuffer()));
    if (!d.record || d.record.bytes !== d.size) continue; // a torn tail: not a whole segment, left to `outpost check`
    segments.push(d.record);
    frags.push(d.frags);
  }
  return { source: "files", segments, frags, gaps: await readGaps(root) };
}
