/**
 * Reused buffers for muxed fragments: the native ingest muxes each fragment (≈ 100–150 KB at
 * 2 Mbit/s, three a second per stream) into a buffer of its stream's pool instead of a new one.
 * New buffers per fragment were the recorder's largest garbage: the allocator keeps the peak of
 * what the collector frees late (it returns pages unused for 30 s: edge/process-env.ts), so at 2 Mbit/s
 * the process's memory kept growing for minutes.
 *
 * A pooled fragment is a view of one of the pool's buffers, handed out **held once** (the
 * producer's hold). A buffer is written again only when every hold is released. Whoever keeps
 * the bytes past the call that handed them over holds them (`holdFragment`) and releases them
 * after its last read (`releaseFragment`); whoever keeps them without a hold must copy them
 * (`keepFragment`). A view that is not a pool's is ignored by hold and release, so code that
 * handles fragments from anywhere (central's hubs get theirs from the network) needs no test.
 *
 * A buffer whose holds are never released is simply never reused (the pool allocates another):
 * a missed release costs allocation, never wrong bytes. A release too many is the dangerous
 * mistake (the buffer is reused under a reader), so a hold count below 0 throws.
 */

/** Buffers are sized in steps of this (bytes): fragments of one stream then share a few sizes. */
const STEP = 64 * 1024;
/** Free buffers kept for reuse, at least; more when more were in use at once (a long GOP held by the live hub). */
const MIN_SPARE = 4;
/** Free buffers kept at most: beyond this they are left to the collector. */
const MAX_SPARE = 32;

class Slot {
  holds = 1;
  constructor(
    readonly pool: FragmentPool,
    readonly bytes: Uint8Array,
  ) {}
}

/** Every pool's buffers allocated and reused, in this process (tests and benchmarks: is reuse happening?). */
export const fragmentPoolTotals = { allocated: 0, reused: 0 };

/** The slot of each pooled buffer, by its ArrayBuffer: holds and releases find it from any view. */
const slots = new WeakMap<ArrayBufferLike, Slot>();

export class FragmentPool {
  private free: Slot[] = [];
  private inUse = 0;
  private highWater = 0;
  /** Buffers allocated and reuses (tests, benchmarks). */
  readonly stats = { allocated: 0, reused: 0 };

  /** A view of `size` bytes in a buffer nobody holds, held once by the caller. */
  take(size: number): Uint8Array {
    let slot: Slot | undefined;
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i]!.bytes.length < size) continue;
      slot = this.free[i]!;
      this.free.splice(i, 1);
      slot.holds = 1;
      this.stats.reused++;
      fragmentPoolTotals.reused++;
      break;
    }
    if (!slot) {
      slot = new Slot(this, new Uint8Array(Math.ceil(size / STEP) * STEP || STEP));
      slots.set(slot.bytes.buffer, slot);
      this.stats.allocated++;
      fragmentPoolTotals.allocated++;
    }
    this.inUse++;
    if (this.inUse > this.highWater) this.highWater = this.inUse;
    return slot.bytes.subarray(0, size);
  }

  /** Buffers waiting for reuse (tests). */
  get spare(): number {
    return this.free.length;
  }

  /** Called by releaseFragment when a buffer's last hold is gone. */
  returned(slot: Slot): void {
    this.inUse--;
    if (this.free.length < Math.min(MAX_SPARE, Math.max(MIN_SPARE, this.highWater))) this.free.push(slot);
  }
}

/** Keeps a pooled fragment's buffer from reuse until the matching release. */
export function holdFragment(bytes: Uint8Array): void {
  const s = slots.get(bytes.buffer);
  if (s) s.holds++;
}

/** Drops one hold; the buffer's last one gives it back to its pool. */
export function releaseFragment(bytes: Uint8Array): void {
  const s = slots.get(bytes.buffer);
  if (!s) return;
  if (s.holds <= 0) throw new Error("fragment buffer released more often than held");
  if (--s.holds === 0) s.pool.returned(s);
}

/** Is this a view of a pooled buffer (valid only while someone holds it)? */
export function isPooledFragment(bytes: Uint8Array): boolean {
  return slots.has(bytes.buffer);
}

/** Bytes that may be kept without a hold: a pooled fragment copied, anything else as it is. */
export function keepFragment(bytes: Uint8Array): Uint8Array {
  return slots.has(bytes.buffer) ? bytes.slice() : bytes;
}
