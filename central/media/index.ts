/**
 * central/media: central's recordings on storage every central node reaches — blobs in a
 * lib/blob store (a shared directory today, S3-compatible later) and the segment index in
 * PostgreSQL (media_segments, media_gaps; migration 0007). Owns committing a segment exactly
 * once across nodes, reading it back, sweeping blobs without rows, checking rows without
 * blobs (store.ts), the intents that name each upload commit in flight so a cut one's blob
 * goes once its node is dead (intents.ts), the "next free millisecond" rule (free-start.ts),
 * the index queries (segments.ts) and the one-time import of an older
 * installation's DuckDB store index (legacy.ts), and the upkeep each site's partition owner
 * does on the shared store — recovering what a stopped node left, reaping cut upload commits,
 * sweeping blobs without rows (upkeep.ts). docs/design/central-cluster.md, "Recordings
 * on shared storage".
 */
export { CentralMedia, DEFAULT_SWEEP_GRACE_MS, type CommitInput, type CommitResult, type CheckProblem, type MediaOptions } from "./store.ts";
export { CommitIntents, IntentTakenError, type CutIntent } from "./intents.ts";
export { claimFreeStart, FREE_START_WITHIN_MS } from "./free-start.ts";
export { SegmentIndex, type MediaSegment, type MediaGap } from "./segments.ts";
export { importLegacyStore, type LegacyImport } from "./legacy.ts";
export { PgStoreIndex, leaseFence, type SegmentFence } from "./store-index.ts";
export { MediaUpkeep, DEFAULT_SWEEP_EVERY_MS, type MediaUpkeepOptions, type UpkeepOwnership } from "./upkeep.ts";
