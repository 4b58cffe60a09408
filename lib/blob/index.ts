/**
 * lib/blob: named immutable byte objects ("blobs") under one store — the seam between what
 * central records and where the bytes live. Owns the contract (this file), the file-system
 * implementation (fs.ts: a local disk or a shared mount such as NFS) and the conformance suite
 * (conformance.ts) every implementation runs, so S3-compatible object storage can follow
 * without its callers changing. Knows nothing of segments, cameras or databases.
 */
export { FsBlobStore, type FsBlobStoreOptions } from "./fs.ts";

/** What is known about a stored blob without reading it. */
export interface BlobInfo {
  key: string;
  bytes: number;
  /** When the blob was written (ms since the epoch): sweepers keep young unreferenced blobs. */
  modifiedMs: number;
}

export interface BlobStore {
  /** Where the blobs live, for logs and errors (a directory, a bucket URL). */
  readonly location: string;
  /**
   * Stores `data` under `key` durably before resolving (file store: temp name → fsync → rename
   * → directory fsync), so a crash leaves either no blob or the whole one. Replaces an existing
   * blob of the same key; callers that must never replace one use a fresh key.
   */
  put(key: string, data: Uint8Array): Promise<BlobInfo>;
  /** The bytes of [start, end) (end exclusive, clipped to the size), or the whole blob; null when there is no such blob. */
  get(key: string, range?: { start: number; end?: number }): Promise<Uint8Array | null>;
  stat(key: string): Promise<BlobInfo | null>;
  /** Removes the blob durably; false when there was none. */
  delete(key: string): Promise<boolean>;
  /**
   * Every blob whose key starts with `prefix` (plain string prefix, like S3), in key order; for
   * sweeping and checks. With `temps`, the same walk also removes the leftovers of interrupted
   * puts under `prefix` that `temps.removable` judges dead (as sweepTemp), counted in
   * `temps.removed`: a sweeper needing both lists the store once.
   */
  list(prefix?: string, temps?: TempSweep): AsyncIterable<BlobInfo>;
  /**
   * Removes leftovers of puts a crash interrupted under `prefix` that `removable` judges no put
   * can still finish (a put in flight elsewhere keeps its own); how many.
   */
  sweepTemp?(prefix: string, removable: (t: TempBlob) => boolean): Promise<number>;
}

/** A temp-file sweep done during a list() walk. */
export interface TempSweep {
  removable: (t: TempBlob) => boolean;
  /** How many temp files the walk removed (the walk adds to it). */
  removed: number;
}

/** A put's temp file, as a sweeper judges it. */
export interface TempBlob {
  /** Who wrote it (the store's `writer`), or null when its name names nobody. */
  writer: string | null;
  /** Last written (ms since the epoch): a put in flight keeps it fresh. */
  modifiedMs: number;
}

/** A key refused by every implementation: empty, absolute, with empty, "." or ".." parts, or odd characters. */
export class BlobKeyError extends Error {
  constructor(key: unknown) {
    super(`invalid blob key ${JSON.stringify(key)}: use '/'-separated parts of letters, digits, '.', '_' or '-' (no '.' or '..' parts, max 512 characters)`);
    this.name = "BlobKeyError";
  }
}

const PART = /^[A-Za-z0-9_.-]{1,200}$/;

/** Keys are relative paths on a file store: refuse anything that could escape the root or collide with temp names. */
export function checkBlobKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > 512) throw new BlobKeyError(key);
  for (const p of key.split("/")) {
    if (!PART.test(p) || p === "." || p === ".." || p.includes(".tmp-")) throw new BlobKeyError(key);
  }
  return key;
}
