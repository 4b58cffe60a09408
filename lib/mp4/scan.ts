/**
 * Scanning a whole segment file: its init segment and the fragments that are complete.
 * Startup recovery uses `playableBytes` to trim a torn last fragment after a crash.
 */
import { readBox } from "./box.ts";
import { parseFragment, type FragmentInfo } from "./fragment.ts";
import { parseInit, type InitInfo } from "./init.ts";

export interface ScannedFragment {
  offset: number;
  size: number;
  info: FragmentInfo;
}

export interface ScanResult {
  init: InitInfo | null;
  initSize: number;
  fragments: ScannedFragment[];
  /** Length of the prefix made of whole boxes ending in a whole fragment; the rest is torn. */
  playableBytes: number;
  /** Media time covered by the fragments, in ms. */
  durationMs: number;
  /** True when at least one fragment's reference track starts with a keyframe. */
  hasKeyframe: boolean;
}

export function scanSegment(buf: Uint8Array): ScanResult {
  let off = 0;
  let init: InitInfo | null = null;
  let initSize = 0;
  let moofAt = -1;
  const fragments: ScannedFragment[] = [];
  let playable = 0;
  for (;;) {
    let box;
    try {
      box = readBox(buf, off);
    } catch {
      break;
    }
    if (!box) break;
    if (box.type === "moov") {
      init = parseInit(buf.subarray(0, off + box.size));
      initSize = off + box.size;
      playable = initSize;
    } else if (box.type === "moof") {
      moofAt = off;
    } else if (box.type === "mdat" && moofAt >= 0 && init) {
      const frag = buf.subarray(moofAt, off + box.size);
      try {
        fragments.push({ offset: moofAt, size: frag.length, info: parseFragment(frag, init) });
        playable = off + box.size;
      } catch {
        break;
      }
      moofAt = -1;
    }
    off += box.size;
  }
  // Duration is measured on the reference (video) track; audio-only moofs interleave with it.
  const timed = fragments.filter((f) => f.info.hasReferenceTrack);
  const first = timed[0];
  const last = timed[timed.length - 1];
  return {
    init,
    initSize,
    fragments,
    playableBytes: playable,
    durationMs: first && last ? last.info.startMs + last.info.durationMs - first.info.startMs : 0,
    hasKeyframe: fragments.some((f) => f.info.keyframe),
  };
}

export async function scanFile(path: string): Promise<ScanResult> {
  return scanSegment(new Uint8Array(await Bun.file(path).arrayBuffer()));
}
