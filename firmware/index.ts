/**
 * firmware/: the edge as an appliance — reproducible single-binary bundles (build.ts,
 * bundle.ts), TUF-style signed metadata and update keys (meta.ts), A/B slots and their state
 * (slots.ts), the launcher with boot counter and rollback (boot.ts), delta chunking (chunk.ts)
 * and the update agent (agent/). Central's side lives in central/firmware/.
 * Must not touch recordings, edge configuration, the federation CA or edge internals: the
 * recorder is seen only through a health probe. Design: docs/design/firmware.md.
 */
export * from "./meta.ts";
export { writeBundle, readManifest, extractBundle, targetFiles, type Manifest, type ManifestFile, type BundleInput } from "./bundle.ts";
export { buildAppliance, compileEdge, sourceDateEpoch, type BuildOptions, type BuildResult } from "./build.ts";
export { chunkBundle, chunkFiles, cutPoints, type ChunkIndex } from "./chunk.ts";
export { firmwarePaths, readState, verifySlot, commitPending, rollbackPending, RESTART_EXIT_CODE, type Slot, type SlotState } from "./slots.ts";
export { chooseSlot, runBoot, type BootChoice, type BootOptions } from "./boot.ts";
export { signRelease } from "./release.ts";
