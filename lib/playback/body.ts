/**
 * Produces the bytes of a plan, whole or any byte range, reading only the fragments that
 * overlap the range and re-timing each one on the way out.
 */
import { HttpProblem, problemResponse } from "../http/problem.ts";
import { retimeFragment } from "../mp4/index.ts";
import { blockFragment, type PlanBlock, type PlanFragment, type PlaybackPlan } from "./plan.ts";

export interface ByteRange {
  /** Inclusive start, exclusive end. */
  start: number;
  end: number;
}

/** Fragment bytes as they go out: read from the segment file and re-timed. */
export async function fragmentBytes(f: PlanFragment): Promise<Uint8Array> {
  const src = new Uint8Array(await Bun.file(f.path).slice(f.srcOffset, f.srcOffset + f.srcSize).arrayBuffer());
  if (src.length !== f.srcSize) throw new Error(`segment file ${f.path} is shorter than its scan (retention or recovery changed it)`);
  const out = retimeFragment(src, f.init, (_track, ms) => ms + f.shiftMs);
  if (out.length !== f.size) throw new Error(`re-timed fragment is ${out.length} bytes, planned ${f.size}`);
  return out;
}

/** First block whose bytes end after `pos`. */
function findBlock(blocks: PlanBlock[], pos: number): number {
  let lo = 0;
  let hi = blocks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const b = blocks[mid]!;
    if (b.offset + b.size <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Async chunks of [range.start, range.end) of the plan's output (default: all of it). */
export async function* planChunks(plan: PlaybackPlan, range: ByteRange = { start: 0, end: plan.total }): AsyncGenerator<Uint8Array> {
  if (range.start >= range.end) return;
  const clip = (bytes: Uint8Array, offset: number) => {
    const a = Math.max(0, range.start - offset);
    const b = Math.min(bytes.length, range.end - offset);
    return a === 0 && b === bytes.length ? bytes : bytes.subarray(a, b);
  };
  for (let k = findBlock(plan.blocks, range.start); k < plan.blocks.length; k++) {
    const blk = plan.blocks[k]!;
    if (blk.offset >= range.end) return;
    if (blk.kind === "init") {
      yield clip(blk.bytes, blk.offset);
      continue;
    }
    const base = blk.offset - blk.scan.outStart[blk.first]!;
    // First fragment of the run that ends after range.start.
    let lo = blk.first;
    let hi = blk.last;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (base + blk.scan.outStart[mid + 1]! <= range.start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i <= blk.last; i++) {
      const f = blockFragment(blk, i);
      if (f.offset >= range.end) return;
      yield clip(await fragmentBytes(f), f.offset);
    }
  }
}

/** Every byte of one block, in order (the progressive path, which has no ranges). */
export async function* blockChunks(blk: PlanBlock): AsyncGenerator<Uint8Array> {
  if (blk.kind === "init") {
    yield blk.bytes;
    return;
  }
  for (let i = blk.first; i <= blk.last; i++) yield await fragmentBytes(blockFragment(blk, i));
}

/** A pull-driven stream (reads one fragment per pull, so a slow client never makes us buffer). */
export function planStream(plan: PlaybackPlan, range?: ByteRange, onError?: (e: Error) => void): ReadableStream<Uint8Array> {
  return chunkStream(planChunks(plan, range), onError);
}

export function chunkStream(it: AsyncGenerator<Uint8Array>, onError?: (e: Error) => void): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const r = await it.next();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } catch (e) {
        onError?.(e as Error);
        ctl.error(e);
      }
    },
    async cancel() {
      await it.return(undefined);
    },
  });
}

/**
 * Parses a Range header against a resource of `total` bytes. Returns undefined for "send it all"
 * (no header, or a form we ignore such as multiple ranges), "unsatisfiable" for 416.
 */
export function parseRange(header: string | null | undefined, total: number): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0) return "unsatisfiable";
    return { start: Math.max(0, total - n), end: total };
  }
  const start = Number(a);
  if (b !== "" && Number(b) < start) return undefined; // syntactically invalid: RFC 9110 says ignore it
  if (start >= total) return "unsatisfiable";
  const end = b === "" ? total : Math.min(total, Number(b) + 1);
  if (end <= start) return "unsatisfiable";
  return { start, end };
}

/**
 * Applies a Range request to a `total`-byte body: sets content-length (and content-range) on
 * `headers` and says which bytes to send with which status, or gives the 416 problem response.
 * Edge and central playback both answer Range requests through this.
 */
export function rangeReply(header: string | null | undefined, total: number, headers: Headers, path: string): { range: ByteRange; status: 200 | 206 } | Response {
  const range = parseRange(header, total);
  if (range === "unsatisfiable") {
    const res = problemResponse(new HttpProblem(416, "Range not satisfiable", `The requested range is outside this ${total}-byte video.`), path);
    res.headers.set("content-range", `bytes */${total}`);
    return res;
  }
  const r = range ?? { start: 0, end: total };
  headers.set("content-length", String(r.end - r.start));
  if (range) headers.set("content-range", `bytes ${r.start}-${r.end - 1}/${total}`);
  return { range: r, status: range ? 206 : 200 };
}
