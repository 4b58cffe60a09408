/**
 * Chain of custody (federation/custody), shared by edge and central: per-stream hash chains of
 * committed segments signed with the site key (recorder.ts, on disk beside the segments:
 * journal.ts), evidence packages (package.ts) and their offline verification (verify.ts).
 * The exact bytes hashed and signed are in format.ts. Knows nothing of HTTP, MQTT or who is
 * enrolled: callers hand it a signer. Design: docs/design/custody.md; format:
 * docs/ref/evidence-package.md.
 */
export * from "./format.ts";
export { CustodyRecorder, type CustodySigner, type CustodyOptions } from "./recorder.ts";
export { buildPackage, collectCustody, PACKAGE_FORMAT, type AuditExcerpt, type Manifest, type PackageInput, type PackageSegment } from "./package.ts";
export { verifyPackage, VERDICTS, PackageError, type PackageReport, type SegmentVerdict, type Verdict } from "./verify.ts";
export { signedRevocations, unknownRevocations } from "./revocations.ts";
export { CUSTODY_DIR, custodyId, readEntries, readSignatures } from "./journal.ts";
export { evidencePackage, type EvidenceRequest } from "./export.ts";
export { toGpx, toWebVmt, type SidecarPoint } from "./track-sidecar.ts";
export { rebuildCustody } from "./rebuild.ts";
export { proofFor, encodeProof, decodeProof, MAX_PROOF_ENTRIES, type CustodyProof } from "./proof.ts";
