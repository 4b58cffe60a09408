/**
 * The resumable upload protocol (edge → central over the federation mTLS listener; the edge
 * dials out). A segment is identified by (site from the certificate, camera, stream, edge
 * start ms) and verified by its SHA-256; it travels as fixed-size chunks, each with its own
 * SHA-256 announced up front, in one streamed PUT from the offset central has committed:
 *
 *   POST /federation/v1/transfer/work   long poll: the edge reports link + usage, central answers
 *                                       with the segments it wants (class, committed offset)
 *   PUT  /federation/v1/transfer/segments/{camera}/{stream}/{startMs}
 *        headers: x-outpost-offset, -bytes, -sha256, -chunk-size, -chunks (hex list from offset, ≤ 64),
 *                 -end-ms, -mime, -link, -class; body: bytes offset…end (may stop at any chunk boundary)
 *        200 {offset, committed}   every whole verified chunk is fsynced before it counts; a
 *                                  broken connection costs at most the chunk in flight
 *        409 {offset}              offset mismatch (or another upload of it runs, or central's
 *                                  commit of the whole segment was interrupted: offset 0): resume there
 *        422 {offset}              a chunk failed its hash: it was not stored; send again
 *        503 {offset} Retry-After  central could not commit it now (database, disk, shutting down);
 *                                  the bytes were fine: send the segment again later (offset 0)
 */
import { z } from "zod";
import { TransferClass } from "./policy.ts";

export const TRANSFER_VERSION = 1;
/** Default chunk: small enough that a drop re-sends little (≤ 64 KiB), large enough that hashing/fsync stay cheap. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Chunk hashes announced per PUT (keeps the header far below HTTP header limits); a longer segment takes several PUTs. */
export const MAX_CHUNKS_PER_REQUEST = 64;
export const MIN_CHUNK_SIZE = 4096;
export const MAX_CHUNK_SIZE = 8 * 1024 * 1024;

export const H = {
  offset: "x-outpost-offset",
  bytes: "x-outpost-bytes",
  sha256: "x-outpost-sha256",
  chunkSize: "x-outpost-chunk-size",
  chunks: "x-outpost-chunks",
  endMs: "x-outpost-end-ms",
  mime: "x-outpost-mime",
  width: "x-outpost-width",
  height: "x-outpost-height",
  link: "x-outpost-link",
  cls: "x-outpost-class",
  /** Custody proof of the segment (lib/custody/proof.ts): base64 JSON of its chain entry, signature, certificate. */
  custody: "x-outpost-custody",
} as const;

export const paths = {
  work: "/federation/v1/transfer/work",
  segment: (cameraId: string, stream: string, startMs: number) => `/federation/v1/transfer/segments/${encodeURIComponent(cameraId)}/${stream}/${startMs}`,
  /** PUT: one segment's preview file (lib/preview), whole; header x-outpost-sha256. 200 {stored, sha256}; 422 refused. */
  preview: (cameraId: string, stream: string, startMs: number) => `/federation/v1/preview/${encodeURIComponent(cameraId)}/${stream}/${startMs}`,
};

const ms = z.number().int().nonnegative();
const camera = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/);

export const WorkRequest = z.object({
  v: z.literal(TRANSFER_VERSION),
  /** Active link type as the edge sees it (cellular, wifi, …). */
  link: z.string().min(1).max(40),
  /** Bytes the edge put on each link this month (its own count; it enforces budgets with it). */
  usage: z.object({ month: z.string().regex(/^\d{4}-\d{2}$/), byLink: z.record(z.string(), z.number().nonnegative()) }),
  /** Segments central asked for that the edge no longer has (retention got there first). */
  missing: z.array(z.tuple([camera, z.enum(["main", "sub"]), ms])).max(10_000).default([]),
  /** Long-poll: answer at once when there is work, else within this many ms. */
  waitMs: z.number().int().min(0).max(60_000).default(0),
  /** Ids of the central locks the edge currently holds. */
  locks: z.array(z.string().max(64)).max(10_000).default([]),
  /** The vehicle's state (edge/vehicle): "parked" on a depot link starts the policy's offload. Absent = not a vehicle / older edge. */
  vehicle: z.enum(["running", "stopping", "parked", "low-voltage"]).optional(),
});
export type WorkRequest = z.input<typeof WorkRequest>;

export const WorkItem = z.object({
  cameraId: camera,
  stream: z.enum(["main", "sub"]),
  startMs: ms,
  bytes: z.number().int().nonnegative(),
  /** Committed offset at central (resume from here). */
  offset: z.number().int().nonnegative(),
  cls: TransferClass,
  /** Links this item may use (null = any link the link profile allows for its class). */
  links: z.array(z.string()).nullable(),
  /** When the edge's retention is expected to overwrite it (null = unknown). */
  deadlineMs: z.number().int().nullable(),
});
export type WorkItem = z.infer<typeof WorkItem>;

export const WorkResponse = z.object({
  v: z.literal(TRANSFER_VERSION),
  items: z.array(WorkItem),
  /** Edge locks made for central that central no longer needs (range is at central, or the lock ended). */
  release: z.array(z.string()),
  /** Chunk size for new uploads (a partial upload keeps the size it started with). */
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
});
export type WorkResponse = z.infer<typeof WorkResponse>;

export const UploadResult = z.object({ offset: z.number().int().nonnegative(), committed: z.boolean(), error: z.string().optional() });
export type UploadResult = z.infer<typeof UploadResult>;

export function sha256Hex(b: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(b).digest("hex");
}

/** SHA-256 of each chunk of `data` starting at chunk index `fromChunk`. */
export function chunkHashes(data: Uint8Array, chunkSize: number, fromChunk = 0): string[] {
  const out: string[] = [];
  for (let off = fromChunk * chunkSize; off < data.length; off += chunkSize) out.push(sha256Hex(data.subarray(off, Math.min(off + chunkSize, data.length))));
  return out;
}
