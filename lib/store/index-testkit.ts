/**
 * The store's index implementations, for the tests every one of them must pass (conformance,
 * as Hono's router implementations share one suite): SQLite, which the edge runs, and DuckDB,
 * which an edge's first start after the move reads its rows from and central's legacy import reads.
 */
import { join } from "node:path";
import { IndexDb, type SegmentDay, type SegmentSpans, type StoreIndex } from "./db.ts";
import { SqliteIndex, type CompanionIndex } from "./sqlite-index.ts";
import type { StreamKind } from "./types.ts";

export type TestIndex = Omit<StoreIndex, "spans"> &
  CompanionIndex & {
    spans(cameraId: string, stream: StreamKind, fromMs: number, toMs: number): Promise<SegmentSpans & { fmt: number[] }>;
    segmentDays(cameraId: string, stream: StreamKind, fromMs: number, toMs: number, lastStartMs: number, opts?: { lines?: boolean; day?: number }): Promise<SegmentDay[]>;
  };

export const INDEX_IMPLS: { name: string; open(dir: string, file?: string): Promise<TestIndex> }[] = [
  { name: "sqlite", open: (dir, file = "index.sqlite") => SqliteIndex.open(join(dir, file)) },
  { name: "duckdb", open: (dir, file = "index.duckdb") => IndexDb.open(join(dir, file)) },
];
