/**
 * Upload receiver (federation mTLS listener; the site is the certificate's, never a header):
 * a streamed PUT is cut into the announced chunks, each chunk is checked against its SHA-256
 * before it is written and fsynced — a bad chunk is never stored — and the committed offset
 * is what is on disk. A whole segment is committed through central/media's CentralMedia.commit
 * when central's index is in the database (whole-file hash, blob durable under a fresh key,
 * then its row by key: exactly once across nodes), else handed to MediaStore.importSegment
 * (whole-file hash, fsync, rename, dir fsync, the store's own index); either way it is logged
 * once in tr_commits (commits.ts; with the store's import, the row waits in pending-commits.ts
 * until it is logged, so a node stopped in between completes it). Partial uploads live in
 * <dataDir>/transfer/partial/ with a small meta file holding the chunk hashes, so a restart of
 * central resumes at the last whole verified chunk.
 */
import { mkdir, open, readFile, rm, stat, truncate } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { StoreInputError, type MediaStore, type StreamKind } from "../../lib/store/index.ts";
import { writeFileDurable } from "../../lib/store/layout.ts";
import { H, MAX_CHUNKS_PER_REQUEST, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, TransferClass, budgetMonth, sha256Hex, type UploadResult } from "../../federation/transfer/index.ts";
import { centralCameraId as centralCameraIdOf } from "../../federation/protocol/index.ts";
import type { Database } from "../db/index.ts";
import { decodeProof } from "../../federation/custody/index.ts";
import { CustodyRefused, type ImportVerifier } from "../custody/index.ts";
import { holdings } from "../holdings/index.ts";
import { recordCommit, type CommitOutcome, type CommitRow } from "./commits.ts";
import { PendingCommits } from "./pending-commits.ts";
import { IntentTakenError, type CentralMedia } from "../media/index.ts";

interface Meta {
  sha256: string;
  bytes: number;
  chunkSize: number;
  /** Known chunk hashes by index (filled as uploads announce them). */
  hashes: (string | null)[];
}

interface Partial {
  meta: Meta;
  verified: number;
}

export interface ReceiverStats {
  commits: number;
  /** Whole segments received again after a node had committed them with the same SHA-256 (not counted in commits). */
  duplicateCommits: number;
  /** Segments offered again after central had committed them (answered without reading). */
  alreadyHad: number;
  badChunks: number;
  bytesReceived: number;
  /** Body bytes that were not part of a verified chunk (lost in flight, or bad). */
  bytesDiscarded: number;
  resumes: number;
}

/** Seconds an edge is told to wait after a commit failed for a reason other than its bytes (503). */
export const COMMIT_RETRY_AFTER_S = 5;

export class BadUpload extends Error {
  constructor(
    /** 503: central could not store it now (database, disk, store closing); the bytes were fine. */
    readonly status: 400 | 409 | 422 | 503,
    message: string,
    readonly offset = 0,
  ) {
    super(message);
  }
}

export class Receiver {
  private readonly partials = new Map<string, Partial>();
  private readonly busy = new Set<string>();
  /** Whole segments being committed now (every byte received, the commit not yet answered). */
  private readonly committing = new Map<string, Promise<unknown>>();
  readonly stats: ReceiverStats = { commits: 0, duplicateCommits: 0, alreadyHad: 0, badChunks: 0, bytesReceived: 0, bytesDiscarded: 0, resumes: 0 };
  private readonly pending: PendingCommits;

  constructor(
    /**
     * `custody`: when set, every upload's custody proof is checked before any byte is stored (central/custody).
     * `onBytes`: bytes received per site and link (link-meter.ts); `onCommit`: a segment was committed.
     */
    private readonly o: {
      dir: string;
      store: MediaStore;
      db: Database;
      clock: Clock;
      log: Logger;
      custody?: ImportVerifier;
      /** storage.index database: segments commit here (the same rows `store` reads), not through the store's import. */
      media?: Pick<CentralMedia, "commit">;
      onBytes?: (siteId: string, link: string, n: number) => void;
      onCommit?: (c: { siteId: string; cameraId: string; stream: StreamKind; startMs: number; bytes: number; cls: TransferClass; link: string }) => void;
    },
  ) {
    this.pending = new PendingCommits(o.dir);
  }

  /**
   * At start (before uploads are received): commit rows a stopped node wrote before an import
   * are logged when the store holds their segment, else dropped (the edge sends it again).
   */
  async completePendingCommits(): Promise<number> {
    let logged = 0;
    for (const k of await this.pending.keys()) if (await this.completePending(k)) logged++;
    return logged;
  }

  /** True when a waiting row was logged now; one the database refuses waits for the next offer or start. */
  private async completePending(k: string): Promise<boolean> {
    const row = await this.pending.read(k);
    if (!row) return false;
    if (!(await this.have(row.siteId, row.cameraId, row.stream as StreamKind, row.startMs, row.sha256, row.bytes))) {
      await this.pending.remove(k);
      return false;
    }
    try {
      this.counted(k, row, await recordCommit(this.o.db, row));
    } catch (e) {
      this.o.log.warn("commit row of a segment central holds not logged yet; tried again when it is offered again or at the next start", { segment: k, err: e as Error });
      return false;
    }
    this.o.log.info("segment commit completed: imported before its commit row, logged now", { segment: k });
    await rm(this.file(k) + ".json", { force: true });
    await this.pending.remove(k);
    return true;
  }

  private key(siteId: string, cameraId: string, stream: string, startMs: number): string {
    return `${siteId}/${cameraId}/${stream}/${startMs}`;
  }
  private file(k: string): string {
    return join(this.o.dir, `${k}.part`);
  }

  /** Committed bytes central holds for an edge segment: bytes when whole, the partial offset, or 0. */
  async offsetOf(siteId: string, cameraId: string, stream: StreamKind, startMs: number, bytes: number): Promise<number> {
    const p = this.partials.get(this.key(siteId, cameraId, stream, startMs)) ?? (await this.load(this.key(siteId, cameraId, stream, startMs)));
    return p && p.meta.bytes === bytes ? p.verified : 0;
  }

  /**
   * Resolves once a commit of this segment running on this node has ended (at once when none
   * runs). The status route waits for it: while a commit runs, "every byte, not committed"
   * stands still, which an edge's upload watchdog reads as a dead connection and aborts the
   * upload — then re-sends what central already committed. A loaded central (a slow database
   * or disk) made that happen; waiting turns the answer into "committed", or a probe timeout
   * the edge ignores.
   */
  async commitSettled(siteId: string, cameraId: string, stream: StreamKind, startMs: number): Promise<void> {
    await this.committing.get(this.key(siteId, cameraId, stream, startMs))?.catch(() => undefined);
  }

  /**
   * Whether central already holds this edge segment (central/holdings): an exact copy (same start
   * within 1 s, same hash), or — when the edge says where the segment ends — central footage
   * covering it (a live recording that got there first).
   */
  async have(siteId: string, cameraId: string, stream: StreamKind, startMs: number, sha256: string | null, bytes: number, endMs: number | null = null): Promise<boolean> {
    const h = await holdings(this.o.store, centralCameraIdOf(siteId, cameraId), stream, startMs, endMs ?? startMs + 1000);
    return h.hasCopy(startMs, bytes, sha256) || (endMs !== null && endMs > startMs && h.has({ startMs, endMs, bytes }));
  }

  private async load(k: string): Promise<Partial | null> {
    let meta: Meta;
    try {
      meta = JSON.parse(await readFile(this.file(k) + ".json", "utf8")) as Meta;
    } catch {
      return null;
    }
    // What counts is what is on disk and matches its announced hash, chunk by chunk.
    const size = (await stat(this.file(k)).catch(() => null))?.size ?? 0;
    let verified = 0;
    if (size > 0) {
      const data = new Uint8Array(await Bun.file(this.file(k)).arrayBuffer());
      while (verified < size) {
        const end = Math.min(verified + meta.chunkSize, meta.bytes);
        if (end > size) break;
        const h = meta.hashes[verified / meta.chunkSize];
        if (!h || sha256Hex(data.subarray(verified, end)) !== h) break;
        verified = end;
      }
      if (verified < size) await truncate(this.file(k), verified);
    }
    const p = { meta, verified };
    this.partials.set(k, p);
    return p;
  }

  async receive(siteId: string, cameraId: string, stream: StreamKind, startMs: number, headers: Headers, body: ReadableStream<Uint8Array> | null): Promise<UploadResult> {
    const num = (name: string, min = 0): number => {
      const v = headers.get(name);
      if (v === null || !/^\d+$/.test(v) || Number(v) < min) throw new BadUpload(400, `header ${name} must be a non-negative integer`);
      return Number(v);
    };
    const offset = num(H.offset);
    const bytes = num(H.bytes, 1);
    const chunkSize = num(H.chunkSize, MIN_CHUNK_SIZE);
    if (chunkSize > MAX_CHUNK_SIZE) throw new BadUpload(400, `chunk size must be at most ${MAX_CHUNK_SIZE}`);
    const sha256 = headers.get(H.sha256) ?? "";
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new BadUpload(400, `header ${H.sha256} must be 64 hex digits`);
    const cls = TransferClass.safeParse(headers.get(H.cls) ?? "backfill");
    if (!cls.success) throw new BadUpload(400, `header ${H.cls} must be one of alarm, request, event, scheduled, backfill`);
    const link = (headers.get(H.link) ?? "unknown").slice(0, 40);
    if (offset % chunkSize !== 0 || offset > bytes) throw new BadUpload(400, "offset must be a chunk boundary inside the segment");
    const hashes = (headers.get(H.chunks) ?? "").split(",").filter(Boolean);
    const nChunks = Math.ceil((bytes - offset) / chunkSize);
    if (nChunks > 0 && (hashes.length < 1 || hashes.length > Math.min(nChunks, MAX_CHUNKS_PER_REQUEST)) || hashes.some((h) => !/^[0-9a-f]{64}$/.test(h)))
      throw new BadUpload(400, `header ${H.chunks} must list 1 to ${Math.min(nChunks, MAX_CHUNKS_PER_REQUEST)} chunk hashes from the offset`);
    /** This request carries at most the announced chunks. */
    const limit = Math.min(bytes, offset + hashes.length * chunkSize);

    const endHeader = headers.get(H.endMs);
    const endMs = endHeader !== null && /^\d+$/.test(endHeader) ? Number(endHeader) : null;
    const k = this.key(siteId, cameraId, stream, startMs);
    if (await this.have(siteId, cameraId, stream, startMs, sha256, bytes, endMs)) {
      // Held, maybe without its commit row (this node stopped between the two): log it now.
      if (!this.busy.has(k)) await this.completePending(k);
      this.stats.alreadyHad++;
      await body?.cancel().catch(() => undefined);
      return { offset: bytes, committed: true };
    }
    if (this.busy.has(k)) throw new BadUpload(409, "another upload of this segment is running", this.partials.get(k)?.verified ?? 0);
    if (this.o.custody && offset === 0) {
      // Before any byte is stored: a segment whose custody fails is refused, never kept.
      try {
        await this.o.custody.check(siteId, { cameraId, stream, startMs, sha256 }, decodeProof(headers.get(H.custody)));
      } catch (e) {
        if (e instanceof CustodyRefused) {
          await body?.cancel().catch(() => undefined);
          throw new BadUpload(422, `custody verification failed: ${e.message}`, 0);
        }
        throw e;
      }
    }
    this.busy.add(k);
    try {
      let p = this.partials.get(k) ?? (await this.load(k));
      if (!p || p.meta.sha256 !== sha256 || p.meta.bytes !== bytes || p.meta.chunkSize !== chunkSize) {
        // A different file under the same name (the edge re-recorded or trimmed it): start over.
        await rm(this.file(k), { force: true });
        p = { meta: { sha256, bytes, chunkSize, hashes: [] }, verified: 0 };
        this.partials.set(k, p);
      }
      if (offset !== p.verified) throw new BadUpload(409, `central has ${p.verified} bytes of this segment; resume there`, p.verified);
      if (offset > 0) this.stats.resumes++;
      const first = offset / chunkSize;
      let changed = false;
      for (let i = 0; i < hashes.length; i++) {
        if (p.meta.hashes[first + i] !== hashes[i]) {
          p.meta.hashes[first + i] = hashes[i]!;
          changed = true;
        }
      }
      await mkdir(dirname(this.file(k)), { recursive: true, mode: 0o700 });
      if (changed || offset === 0) await writeFileDurable(this.file(k) + ".json", JSON.stringify(p.meta));
      const fh = await open(this.file(k), offset === 0 ? "w" : "r+");
      let bad = false;
      try {
        let buf = new Uint8Array(0);
        const flush = async (final: boolean): Promise<void> => {
          while (!bad) {
            const want = Math.min(chunkSize, limit - p.verified);
            if (want <= 0 || buf.length < want) break;
            const chunk = buf.subarray(0, want);
            const idx = p.verified / chunkSize;
            if (sha256Hex(chunk) !== p.meta.hashes[idx]) {
              this.stats.badChunks++;
              bad = true;
              break;
            }
            let off = 0;
            while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off, p.verified + off)).bytesWritten;
            await fh.sync();
            p.verified += want;
            buf = buf.subarray(want);
          }
          if (final) this.stats.bytesDiscarded += buf.length;
        };
        if (body) {
          const reader = body.getReader();
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              this.stats.bytesReceived += value.length;
              this.o.onBytes?.(siteId, link, value.length);
              const merged = new Uint8Array(buf.length + value.length);
              merged.set(buf, 0);
              merged.set(value, buf.length);
              buf = merged;
              await flush(false);
              if (bad) {
                await reader.cancel().catch(() => undefined);
                break;
              }
              if (p.verified >= limit) {
                await reader.cancel().catch(() => undefined);
                break;
              }
            }
          } catch (e) {
            // The edge went away mid-chunk: what is verified stays; the rest is re-sent.
            this.o.log.debug("upload interrupted", { segment: k, verified: p.verified, err: (e as Error).message });
          }
        }
        await flush(true);
      } finally {
        await fh.close();
      }
      if (bad) throw new BadUpload(422, `chunk at offset ${p.verified} does not match its SHA-256; it was not stored`, p.verified);
      if (p.verified < bytes) return { offset: p.verified, committed: false };
      const committed = this.commit(k, siteId, cameraId, stream, startMs, p, cls.data, link);
      this.committing.set(k, committed);
      try {
        return await committed;
      } finally {
        this.committing.delete(k);
      }
    } finally {
      this.busy.delete(k);
    }
  }

  private async commit(k: string, siteId: string, cameraId: string, stream: StreamKind, startMs: number, p: Partial, cls: TransferClass, link: string): Promise<UploadResult> {
    const row = { siteId, cameraId, stream, startMs, bytes: p.meta.bytes, sha256: p.meta.sha256, atMs: this.o.clock.now(), cls, link };
    /** The commit log's verdict when it was written in the media row's own transaction. */
    let logged: CommitOutcome | null = null;
    try {
      if (this.o.media) {
        const r = await this.o.media.commit({
          siteId,
          cameraId,
          stream,
          startMs,
          sha256: p.meta.sha256,
          data: new Uint8Array(await Bun.file(this.file(k)).arrayBuffer()),
          // Row and commit log in one transaction: a node killed between them left a held segment the log never counted.
          withRow: async (tx) => void (logged = await recordCommit(tx, row)),
        });
        // The store's own bookkeeping (bytes held, the stream's end) as for an import; a duplicate was counted by whoever committed it.
        if (r.outcome !== "duplicate") this.o.store.noteCommitted(r.record);
        await rm(this.file(k), { force: true });
      } else {
        await this.pending.write(k, row);
        await this.o.store.importSegment(this.file(k), { cameraId: centralCameraIdOf(siteId, cameraId), stream, startMs, sha256: p.meta.sha256 });
      }
    } catch (e) {
      await rm(this.file(k), { force: true });
      await rm(this.file(k) + ".json", { force: true });
      this.partials.delete(k);
      // Bytes refused: nothing was imported. Any other failure may have left the segment in the
      // store (its file in, its index row not): the row waits, logged if the store holds it.
      if (e instanceof StoreInputError) await this.pending.remove(k);
      if (!(e instanceof StoreInputError) && !(e instanceof IntentTakenError)) {
        // Not the bytes: the database, the disk or the store (closing) failed. The edge keeps the
        // segment and sends it again from 0 at a later work poll (its sender resumes only
        // below a segment's end). Never counted as bad data.
        this.o.log.error("segment not committed: central could not store it (not a fault of its bytes); the edge sends it again", { segment: k, err: e as Error });
        throw new BadUpload(503, `central could not store the segment now (${(e as Error).message}); send it again later`, 0);
      }
      if (e instanceof IntentTakenError) {
        // Nothing wrong with the bytes: another node's upkeep took this node for dead and reaped
        // the commit. "Resume at 0" (409) makes the edge send it again; never counted as bad data.
        this.o.log.warn("segment commit taken by another node's upkeep (this node's heartbeat lapsed); the edge sends it again", { segment: k });
        throw new BadUpload(409, `the commit was interrupted (${e.message}); send the segment again from offset 0`, 0);
      }
      // The bytes (StoreInputError): whole-segment hash or playability failed; start this segment over rather than keep bad bytes.
      this.stats.badChunks++;
      throw new BadUpload(422, `the assembled segment was refused: ${(e as Error).message}`, 0);
    }
    await rm(this.file(k) + ".json", { force: true });
    this.partials.delete(k);
    // The commit row decides, across nodes (commits.ts): a resend of what another node (or this
    // one, before a restart) committed is acknowledged but not counted again.
    this.counted(k, row, logged ?? (await recordCommit(this.o.db, row)));
    if (!this.o.media) await this.pending.remove(k);
    return { offset: p.meta.bytes, committed: true };
  }

  /** Counts a segment the commit log took (`outcome`), once across nodes. */
  private counted(k: string, row: CommitRow, outcome: CommitOutcome): void {
    if (outcome.kind === "duplicate") {
      this.stats.duplicateCommits++;
      this.o.log.info("segment received again (already committed with the same SHA-256)", { segment: k });
      return;
    }
    if (outcome.kind === "conflict") this.o.log.error("segment received again with other bytes than the committed one (both kept)", { segment: k, sha256: row.sha256, committed: outcome.existing });
    this.stats.commits++;
    const { siteId, cameraId, startMs, bytes, cls, link } = row;
    this.o.onCommit?.({ siteId, cameraId, stream: row.stream as StreamKind, startMs, bytes, cls, link });
    this.o.log.info("segment received", { segment: k, bytes, cls, link, month: budgetMonth(row.atMs) });
  }
}
