/**
 * Where the video depacketizer keeps NAL units until the fragmenter has muxed them: a few
 * reused chunks per stream instead of a new buffer per NAL unit (≈ 250 KB/s of garbage at
 * 2 Mbit/s, which the runtime pays for in collections and page faults, not in bytes copied).
 *
 * A NAL unit is a view into a chunk. Each chunk counts the views handed out and not released;
 * it is written again only once that count is 0 — so a view nobody releases keeps its chunk
 * out of use for good (the arena then takes a new one: more allocation, never wrong bytes).
 * Whoever takes views must release each exactly once, after its last read (the fragmenter does
 * at mux time and when it drops a frame); a view kept longer must be copied (`slice()`).
 */

/** Chunk size: a 2 Mbit/s stream's fragment (~500 ms) and its next keyframe fit in one. */
const CHUNK_BYTES = 256 * 1024;
/** Idle chunks kept for reuse; more are left to the collector. */
const SPARE_CHUNKS = 2;
/**
 * Full chunks followed for releases. Past this the oldest is let go (never written again, freed
 * by the collector with its last view): a reader that does not release costs allocation, not memory.
 */
const RETIRED_CHUNKS = 8;

class Chunk {
  /** Views handed out and not released. */
  live = 0;
  constructor(readonly bytes: Uint8Array) {}
}

export class NalArena {
  private cur: Chunk;
  /** Write position in `cur`; the NAL unit being built starts at `start` (-1: none). */
  private pos = 0;
  private start = -1;
  /** Chunks written full that still have live views: reusable once those are released. */
  private retired: Chunk[] = [];
  private spare: Chunk[] = [];
  private chunkBytes: number;

  constructor(chunkBytes = CHUNK_BYTES) {
    this.chunkBytes = chunkBytes;
    this.cur = new Chunk(new Uint8Array(chunkBytes));
  }

  /** Starts a NAL unit (drops one begun and not finished). */
  begin(): void {
    // Nothing of the current chunk is in use: write it from its start again.
    if (this.cur.live === 0) this.pos = 0;
    this.start = this.pos;
  }

  get building(): boolean {
    return this.start >= 0;
  }

  push(byte: number): void {
    this.room(1);
    this.cur.bytes[this.pos++] = byte;
  }

  append(b: Uint8Array): void {
    this.room(b.length);
    this.cur.bytes.set(b, this.pos);
    this.pos += b.length;
  }

  /** The NAL unit built since begin(), as a view to release() after its last read. */
  finish(): Uint8Array {
    const v = this.cur.bytes.subarray(this.start, this.pos);
    this.cur.live++;
    this.start = -1;
    return v;
  }

  abort(): void {
    if (this.start >= 0) this.pos = this.start;
    this.start = -1;
  }

  /** One whole NAL unit: `b` copied in. */
  copy(b: Uint8Array): Uint8Array {
    this.begin();
    this.append(b);
    return this.finish();
  }

  /** The reader is done with this view (one it got from finish/copy; others are ignored). */
  release(v: Uint8Array): void {
    const buf = v.buffer;
    if (buf === this.cur.bytes.buffer) {
      this.cur.live--;
      return;
    }
    const r = this.retired;
    for (let i = 0; i < r.length; i++) {
      const c = r[i]!;
      if (c.bytes.buffer !== buf) continue;
      if (--c.live === 0) {
        r.splice(i, 1);
        this.keep(c);
      }
      return;
    }
  }

  /** Chunks this arena holds (current, waiting for releases, spare): for tests. */
  get chunks(): number {
    return 1 + this.retired.length + this.spare.length;
  }

  /** Makes room for n more bytes of the NAL unit being built, moving it to another chunk if needed. */
  private room(n: number): void {
    if (this.pos + n <= this.cur.bytes.length) return;
    const have = this.start >= 0 ? this.pos - this.start : 0;
    const need = have + n;
    if (need > this.chunkBytes) this.chunkBytes = Math.max(need, this.chunkBytes * 2);
    const old = this.cur;
    const next = this.take();
    if (have) next.bytes.set(old.bytes.subarray(this.start, this.pos));
    this.cur = next;
    this.start = this.start >= 0 ? 0 : -1;
    this.pos = have;
    if (old.live === 0) this.keep(old);
    else if (this.retired.push(old) > RETIRED_CHUNKS) this.retired.shift();
  }

  private take(): Chunk {
    while (this.spare.length) {
      const c = this.spare.pop()!;
      if (c.bytes.length >= this.chunkBytes) return c;
    }
    return new Chunk(new Uint8Array(this.chunkBytes));
  }

  private keep(c: Chunk): void {
    if (this.spare.length < SPARE_CHUNKS && c.bytes.length >= this.chunkBytes) this.spare.push(c);
  }
}
