/**
 * The recorder's shortcut for fragments it muxed itself (edge/ingest/native): retiming to the
 * segment file and the fragment-table entry come from what muxFragment recorded, not from
 * parsing the moof back. Byte-for-byte what the general path (retimeFragmentParts, then
 * fragmentEntry on the result) gives — see mux.test.ts.
 */
import type { FragmentInfo } from "./fragment.ts";
import type { FragEntry } from "./fragtable.ts";
import type { InitInfo } from "./init.ts";
import { muxedLayout } from "./mux.ts";

/**
 * `bytes` with every track's decode time moved back by `rebaseMs` (as retimeFragmentParts with
 * `ms - rebaseMs`) as parts to write in order, and its table entry at file offset `offset`.
 * Undefined unless muxFragment built `bytes` and was given this very `info` (then callers take
 * the general path).
 */
export function retimeMuxed(bytes: Uint8Array, info: FragmentInfo, init: InitInfo, rebaseMs: number, offset: number): { parts: Uint8Array[]; entry: FragEntry } | undefined {
  const lay = muxedLayout(bytes);
  if (!lay || lay.info !== info || lay.tfdts.length !== info.runs.length) return undefined;
  const timescale = (trackId: number | undefined): number | undefined => {
    for (const t of init.tracks) if (t.trackId === trackId) return t.timescale;
    return undefined;
  };
  let parts: Uint8Array[];
  // New decode times in the order of the trafs (= info.runs): the same arithmetic as retimeOne.
  const ticks: number[] = [];
  if (rebaseMs === 0) {
    parts = [bytes];
    for (const t of lay.tfdts) ticks.push(t.ticks);
  } else {
    // The moof keeps its size (every tfdt is already 64-bit): a copy with new times, then the mdat as it is.
    const moof = bytes.slice(0, lay.moofSize);
    const dv = new DataView(moof.buffer);
    for (const t of lay.tfdts) {
      const ts = timescale(t.trackId) ?? 1000;
      const ms = (t.ticks * 1000) / ts - rebaseMs;
      const n = Math.max(0, Math.round((ms * ts) / 1000));
      dv.setBigUint64(t.at, BigInt(n));
      ticks.push(n);
    }
    parts = [moof, bytes.subarray(lay.moofSize)];
  }
  // As fragmentEntry(parseFragment) reads the retimed moof.
  const videoId = init.video?.trackId;
  let ref = -1;
  if (videoId !== undefined) for (let i = 0; i < info.runs.length && ref < 0; i++) if (info.runs[i]!.trackId === videoId) ref = i;
  const videoRun = ref >= 0 ? info.runs[ref] : undefined;
  if (ref < 0 && info.runs.length) ref = 0;
  const refRun = ref >= 0 ? info.runs[ref] : undefined;
  const ts = timescale(refRun?.trackId) || 1000;
  return {
    parts,
    entry: {
      offset,
      size: bytes.length,
      grow: 0,
      mediaStartMs: refRun ? (ticks[ref]! * 1000) / ts : 0,
      durationMs: refRun ? (refRun.duration * 1000) / ts : 0,
      keyframe: init.video ? !!videoRun?.startsWithSync : true,
      frames: videoId === undefined ? 0 : (videoRun?.sampleCount ?? 0),
      timescale: ts,
    },
  };
}
