/**
 * Playback across recordings: what to play after the end of a played window (the rest of the
 * same recording, or the next one after a gap, with the gap's reason as a sentence), the
 * stream's real frame interval for frame steps (measured from presented frames, not assumed),
 * and a retrieval's state in words (never "queued" beside 100 %).
 */
import { useEffect, useState } from "preact/hooks";
import type { TRetrieval, Timeline } from "../model.ts";
import { gapSentence } from "./words.ts";

/** Pieces closer than this are one recording (segment joins, central/edge labels). */
const JOIN_MS = 1500;

export interface Next {
  atMs: number;
  /** Set when a stretch with no recording lies between the end and atMs. */
  skipped: { ms: number; why: string } | null;
}

/** Where playback continues after endMs: inside a recording that goes on, else the next one; null = nothing after. */
export function nextPlay(tl: Pick<Timeline, "ranges" | "gaps">, endMs: number): Next | null {
  const ranges = [...tl.ranges].sort((a, b) => a.startMs - b.startMs);
  const cont = ranges.find((r) => r.startMs <= endMs + JOIN_MS && r.endMs > endMs + 500);
  if (cont) return { atMs: Math.max(endMs, cont.startMs), skipped: null };
  const next = ranges.find((r) => r.startMs > endMs);
  if (!next) return null;
  const gap = tl.gaps.find((g) => g.startMs < next.startMs && g.endMs > endMs);
  return { atMs: next.startMs, skipped: { ms: next.startMs - endMs, why: gap ? gapSentence(gap.reason) : "Nothing was recorded." } };
}

/** A retrieval's state for people: complete bytes are never called "queued". */
export function retrievalWords(r: Pick<TRetrieval, "state" | "progress">): string {
  if ((r.state === "queued" || r.state === "running") && r.progress >= 100) return "at central — waiting for the edge to list the rest of the range";
  return { queued: "waiting to start", running: "copying", done: "done", partial: "partly done", failed: "failed", cancelled: "cancelled" }[r.state] ?? r.state;
}

const FALLBACK_SEC = 1 / 15;

/**
 * The video's frame interval in seconds, from the media times of presented frames
 * (requestVideoFrameCallback): the smallest steady difference seen. Until frames are seen,
 * 1/15 s.
 */
export function useFrameDuration(video: { current: HTMLVideoElement | null }, src: string | null): number {
  const [sec, setSec] = useState(FALLBACK_SEC);
  useEffect(() => {
    const v = video.current as (HTMLVideoElement & { requestVideoFrameCallback?: (cb: (now: number, m: { mediaTime: number; presentedFrames: number }) => void) => number; cancelVideoFrameCallback?: (h: number) => void }) | null;
    if (!v || !src || !v.requestVideoFrameCallback) return;
    let last: { t: number; n: number } | null = null;
    const deltas: number[] = [];
    let handle = 0;
    const on = (_now: number, m: { mediaTime: number; presentedFrames: number }) => {
      // Only consecutive frames (presentedFrames + 1) measure one interval; seeks and drops do not.
      if (last && m.presentedFrames === last.n + 1 && m.mediaTime > last.t) {
        deltas.push(m.mediaTime - last.t);
        if (deltas.length > 60) deltas.shift();
        const sorted = [...deltas].sort((a, b) => a - b);
        const median = sorted[sorted.length >> 1]!;
        if (deltas.length >= 3) setSec(Math.round(median * 1e4) / 1e4);
      }
      last = { t: m.mediaTime, n: m.presentedFrames };
      handle = v.requestVideoFrameCallback!(on);
    };
    handle = v.requestVideoFrameCallback(on);
    return () => v.cancelVideoFrameCallback?.(handle);
  }, [src]);
  return sec;
}
