/**
 * Playback, shared by edge and central: turns the segments of a camera stream in a window into
 * one fragmented MP4 (exact length, any byte range), an HLS VOD playlist over the same bytes,
 * a one-file MP4 export job, and a JPEG of the latest keyframe. Reads segments through
 * SegmentSource (MediaStore satisfies it); never writes to the store and never decodes except
 * for the snapshot. Owns nothing on disk except the exports folder it is given.
 */
export * from "./scan.ts";
export * from "./plan.ts";
export * from "./body.ts";
export * from "./hls.ts";
export * from "./playback.ts";
export * from "./snapshot.ts";
export * from "./export.ts";
