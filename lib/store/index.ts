/**
 * The media store (lib/store), shared by edge and central: segment files (fragmented MP4) on
 * disk are the truth; gap journals and evidence-lock files sit beside them; the DuckDB index
 * is derived and rebuildable. Owns everything under a store root. Does not parse MP4 itself
 * (lib/mp4 does), knows nothing of cameras beyond their ids, and has no HTTP or MQTT.
 * Design: docs/design/storage.md.
 */
export * from "./types.ts";
export { MediaStore, type StoreOptions } from "./store.ts";
export { fileSyncer, volumeSyncer } from "./sync-thread.ts";
export type { SegmentWriter, WriterStatus } from "./writer.ts";
export type { RetentionPolicy } from "./retention.ts";
export type { RecoveryReport, RecoveryAction, ClaimedRecovery } from "./recovery.ts";
export { checkStore, type CheckReport, type CheckProblem, type CheckProblemKind } from "./check.ts";
export { StoreInputError, StoreLockedError, NotAStoreError, RowRefusedError } from "./errors.ts";
export { isLocked } from "./retention.ts";
export { RetentionConfig, retentionPolicy } from "./retention-config.ts";
// For central's segment index in PostgreSQL (central/media): describing segment files the way the
// writer does. The DuckDB index of older installations (IndexDb) is imported from ./db.ts by
// whoever reads one: exporting it here would load DuckDB into every process that uses the store.
export type { StoreIndex, SegmentSpans, SegmentDay } from "./db.ts";
export { listMedia, describe as describeSegmentFile } from "./files.ts";
export { readGaps } from "./journal.ts";
export { INDEX_FILE, LEGACY_INDEX_FILE, segmentRelPath, parseSegmentPath, isCameraId, checkCameraId } from "./layout.ts";
