/**
 * edge/preview — "see before you pull": per segment of a camera's sub stream (main where it
 * has none), thumbnails of keyframes every N seconds and a per-second activity index (keyframe
 * differences, ONVIF motion), written beside the segment (lib/preview format) and deleted with
 * it; and the sync of those files to central, newest first, in the `preview` class under the
 * link's budget (sync.ts). Owns: the keyframe decoder process. Must not touch: segment files
 * (reads only), the outbox, central/. Design: docs/design/preview.md.
 */
export { EdgePreview, type EdgePreviewDeps, type PreviewMade } from "./preview.ts";
export { KeyframeDecoder } from "./decoder.ts";
export { PreviewSync, type PreviewSyncDeps, type PreviewSyncStatus, type PreviewSender } from "./sync.ts";
export { segmentKeyframes } from "./keyframes.ts";
export { frameDifference, secondLevels, motionIntervals } from "./activity.ts";
