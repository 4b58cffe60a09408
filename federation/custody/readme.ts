/** The README.txt every evidence package carries: how a person checks it, without Outpost if need be. */
export const PACKAGE_README = `OUTPOST EVIDENCE PACKAGE
========================

This archive holds video recorded by an Outpost recorder and the proof of where it came from.

WHAT IS INSIDE
  footage.mp4               the exported window as one playable MP4 (made from the segments
                            below for convenience; open it in any player)
  segments/<start>.mp4      the original recorded segment files, byte for byte as the recorder
                            wrote them (each one plays on its own). These are the evidence.
  custody/chain.jsonl       the hash chain: one line per segment with its SHA-256, time range,
                            and a link hash tying it to the segment recorded before it
  custody/signatures.jsonl  signatures of the chain by the recording site's key, made when
                            each segment was closed
  custody/revocations.json  certificates revoked as known when this package was made
  certs/ca.pem              the certificate authority of the Outpost installation
  certs/<sha256>.pem        the site certificates that made the signatures
  audit.json                who exported this, when, from where, and why
  position.json             the vehicle's position track around the window (null if none)
  position.vmt              the same track as WebVMT, timed to footage.mp4 (when a track exists)
  position.gpx              the same track as GPX 1.1 for map tools (when a track exists)
  manifest.json             the list of files above with their SHA-256

HOW TO CHECK IT
  With Outpost:   outpost verify THIS-FILE.zip --ca CA.pem
                  (CA.pem obtained from the installation's operator, not from this archive)
  It prints one verdict per segment and one overall: intact, modified, missing, reordered,
  spliced, foreign-certificate, revoked-certificate or unsigned, each with its reason.

  By hand (the format is public, docs/ref/evidence-package.md in the Outpost sources):
  1. Compare the SHA-256 fingerprint of certs/ca.pem with the one the operator publishes.
  2. Check every site certificate in certs/ was issued by that CA.
  3. For every line of custody/chain.jsonl, compute SHA-256 over
       "outpost-custody-link/1\\n" chain "\\n" seq "\\n" startMs "\\n" endMs "\\n" bytes "\\n"
       sha256 "\\n" prev "\\n"
     and compare it with the line's "link"; each line's "prev" is the "link" of the line before.
  4. Verify each signature (ECDSA P-256, SHA-256, r||s base64) over
       "outpost-custody-head/1\\n" chain "\\n" seq "\\n" head "\\n" signedAtMs "\\n"
     with the public key of the certificate whose SHA-256 is "cert"; "head" must equal the
     "link" of the chain line with that seq.
  5. Compute the SHA-256 of each file in segments/ and compare it with its chain line.

WHAT IT PROVES, AND WHAT IT DOES NOT
  Intact segments are byte for byte what the recording site's key signed when the segment was
  closed. footage.mp4 is a convenience copy; if its content matters to the case, compare it
  with the segment files (they play on their own). The signing time is the recorder's clock.
`;
