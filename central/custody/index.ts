/**
 * central/custody: verifies every segment an edge uploads against the custody proof that comes
 * with it (lib/custody/proof.ts) before central stores it, and records the verdict:
 *   verified  the file's SHA-256 is in the site's chain, and a signature by a certificate our
 *             CA issued to that same site reaches the entry;
 *   pending   chained but not signed yet (recorded before enrollment): stored, marked
 *             unverified, and verified when a later upload brings a signature that reaches it;
 *   refused   anything else (no proof, hash not the entry's, broken links, another camera's
 *             chain, a certificate not from our CA or of another site, a bad signature, a
 *             certificate revoked before signing): the upload is refused, never stored.
 * Verdicts, received chain entries, proofs, signatures and signing certificates live in
 * central's database (cu_* tables, migration 0005 of central/db), so every central node sees
 * what any node verified.
 */
import { normSerial, parseBundle, parseCert, siteIdOfCert, verifyIssuedBy } from "../../federation/pki.ts";
import { linkOf, signatureMessage, verifyText, type ChainEntry, type CustodyProof, type HeadSignature } from "../../federation/custody/index.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Database } from "../db/index.ts";
import { textColumns, type MovedTable } from "../db/from-duckdb.ts";

export type CustodyVerdict = "verified" | "pending" | "refused";

export class CustodyRefused extends Error {}

export interface ImportVerifierOptions {
  db: Database;
  /** Central's CA certificate(s), PEM. */
  caPem: () => string;
  /** Revocation time of a certificate serial (lower-case hex), if revoked. */
  revokedAt?: (serial: string) => number | undefined;
  clock: Clock;
  log: Logger;
}

/** The custody tables as DATA/transfer/transfer.duckdb held them before central/db: moved once at the first start. */
export const CUSTODY_TABLES_IN_DUCKDB: MovedTable[] = [
  textColumns("cu_segments", ["site_id", "camera_id", "stream", "start_ms", "sha256", "chain", "seq", "verdict", "why", "checked_ms"]),
  textColumns("cu_entries", ["site_id", "chain", "seq", "sha256", "link", "prev"]),
  textColumns("cu_proofs", ["site_id", "chain", "seq", "entry"]),
  textColumns("cu_signatures", ["site_id", "chain", "seq", "signed_ms", "signature"]),
  textColumns("cu_certs", ["fingerprint", "pem"]),
];

export class ImportVerifier {
  constructor(private readonly o: ImportVerifierOptions) {}

  /**
   * Checks an upload's proof for segment (siteId from the mTLS certificate). Resolves to
   * "verified" or "pending"; throws CustodyRefused (verdict recorded) when the segment must
   * not be stored.
   */
  async check(siteId: string, seg: { cameraId: string; stream: string; startMs: number; sha256: string }, proof: CustodyProof | null): Promise<CustodyVerdict> {
    const refuse = async (why: string, e?: ChainEntry): Promise<never> => {
      await this.record(siteId, seg, e ?? null, "refused", why);
      this.o.log.warn("upload refused by custody verification", { site: siteId, camera: seg.cameraId, stream: seg.stream, startMs: seg.startMs, why });
      throw new CustodyRefused(why);
    };
    if (!proof) return refuse("the upload carries no custody proof (chain entry and signature)");
    const [first] = proof.entries;
    const e = first!;
    if (e.sha256 !== seg.sha256 || e.startMs !== seg.startMs) return refuse("the chain entry does not describe this file (SHA-256 or start differ)", e);
    const chainRe = new RegExp(`^[0-9a-f]{16,64}:${escapeRe(seg.cameraId)}/${seg.stream}$`);
    for (let i = 0; i < proof.entries.length; i++) {
      const x = proof.entries[i]!;
      if (!chainRe.test(x.chain) || x.chain !== e.chain) return refuse(`chain entry ${x.seq} belongs to chain ${x.chain}, not to ${seg.cameraId}/${seg.stream} of this site`, e);
      if (linkOf(x) !== x.link) return refuse(`chain entry ${x.seq} was altered (its link hash does not match)`, e);
      if (i > 0 && (x.prev !== proof.entries[i - 1]!.link || x.seq !== proof.entries[i - 1]!.seq + 1)) return refuse(`chain entries ${x.seq - 1} and ${x.seq} do not link`, e);
    }
    await this.storeEntries(siteId, proof.entries);
    if (!proof.sig) {
      await this.record(siteId, seg, e, "pending", "chained but not signed yet; verified when a signature reaching it arrives");
      return "pending";
    }
    const last = proof.entries[proof.entries.length - 1]!;
    if (proof.sig.chain !== e.chain || proof.sig.seq !== last.seq || proof.sig.head !== last.link) return refuse("the signature does not sign this chain's head", e);
    const why = await this.checkSignature(siteId, proof);
    if (why) return refuse(why, e);
    await this.o.db.run(`INSERT INTO cu_signatures (site_id, chain, seq, signed_ms, signature) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
      siteId,
      proof.sig.chain,
      proof.sig.seq,
      proof.sig.signedAtMs,
      JSON.stringify(proof.sig),
    ]);
    await this.o.db.run(`INSERT INTO cu_certs (fingerprint, pem) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [proof.sig.cert, proof.cert!]);
    await this.record(siteId, seg, e, "verified", `signed at ${new Date(proof.sig.signedAtMs).toISOString()} by site ${siteId}`);
    await this.settlePending(siteId, last);
    return "verified";
  }

  /** The verdict central recorded for a segment, if any. */
  async verdict(siteId: string, cameraId: string, stream: string, startMs: number): Promise<{ verdict: CustodyVerdict; why: string } | null> {
    const [r] = await this.o.db.query<{ verdict: CustodyVerdict; why: string }>(`SELECT verdict, why FROM cu_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND start_ms = $4`, [siteId, cameraId, stream, startMs]);
    return r ?? null;
  }

  private async checkSignature(siteId: string, proof: CustodyProof): Promise<string | null> {
    const sig = proof.sig!;
    if (!proof.cert) return "the signing certificate is missing";
    let cert;
    try {
      cert = parseCert(proof.cert);
    } catch {
      return "the signing certificate is unreadable";
    }
    const fp = Buffer.from(await crypto.subtle.digest("SHA-256", cert.rawData)).toString("hex");
    if (fp !== sig.cert) return "the certificate sent is not the one that signed";
    if (!(await verifyIssuedBy(cert, parseBundle(this.o.caPem()), sig.signedAtMs))) return "signed by a certificate not issued by this central's CA (or outside its validity)";
    if (siteIdOfCert(cert) !== siteId) return `signed by site ${siteIdOfCert(cert) ?? "?"}'s certificate, but uploaded by site ${siteId}`;
    const key = await cert.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
    if (!(await verifyText(key, signatureMessage(sig), sig.sig))) return "the signature does not verify";
    const rev = this.o.revokedAt?.(normSerial(cert.serialNumber));
    if (rev !== undefined && rev <= sig.signedAtMs) return `signed by certificate ${normSerial(cert.serialNumber)}, revoked at ${new Date(rev).toISOString()}, before signing`;
    return null;
  }

  /** One statement per table for all of a proof's entries (already held ones stay as they are). */
  private async storeEntries(siteId: string, entries: ChainEntry[]): Promise<void> {
    const e = { e: entries.map((x) => ({ chain: x.chain, seq: x.seq, sha256: x.sha256, link: x.link, prev: x.prev, entry: JSON.stringify(x) })) };
    await this.o.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO cu_entries (site_id, chain, seq, sha256, link, prev)
         SELECT $1, chain, seq, sha256, link, prev FROM jsonb_to_recordset($2::jsonb -> 'e') AS x(chain text, seq bigint, sha256 text, link text, prev text) ON CONFLICT DO NOTHING`,
        [siteId, e],
      );
      await tx.run(`INSERT INTO cu_proofs (site_id, chain, seq, entry) SELECT $1, chain, seq, entry FROM jsonb_to_recordset($2::jsonb -> 'e') AS x(chain text, seq bigint, entry text) ON CONFLICT DO NOTHING`, [siteId, e]);
    });
  }

  /** The edge chain central verified these segments (by SHA-256) under, if any. */
  async chainOf(siteId: string, cameraId: string, stream: string, segs: { startMs: number; sha256: string }[]): Promise<string | null> {
    if (!segs.length) return null;
    const from = Math.min(...segs.map((s) => s.startMs)) - 1000; // central may move an import on by a few ms
    const to = Math.max(...segs.map((s) => s.startMs)) + 1;
    const rows = await this.o.db.query<{ chain: string; sha256: string }>(
      `SELECT chain, sha256 FROM cu_segments WHERE site_id = $1 AND camera_id = $2 AND stream = $3 AND verdict <> 'refused' AND chain IS NOT NULL AND start_ms >= $4 AND start_ms < $5`,
      [siteId, cameraId, stream, from, to],
    );
    const want = new Set(segs.map((s) => s.sha256));
    const votes = new Map<string, number>();
    for (const r of rows) if (want.has(r.sha256)) votes.set(r.chain, (votes.get(r.chain) ?? 0) + 1);
    return [...votes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  }

  /** What central holds of a site's chain (entries and signatures, oldest first) and the certificates that signed it. */
  async held(siteId: string, chain: string): Promise<{ entries: ChainEntry[]; signatures: HeadSignature[]; certs: Map<string, string> }> {
    const entries = (await this.o.db.query<{ entry: string }>(`SELECT entry FROM cu_proofs WHERE site_id = $1 AND chain = $2 ORDER BY seq`, [siteId, chain])).map((r) => JSON.parse(r.entry) as ChainEntry);
    const signatures = (await this.o.db.query<{ signature: string }>(`SELECT signature FROM cu_signatures WHERE site_id = $1 AND chain = $2 ORDER BY seq, signed_ms`, [siteId, chain])).map((r) => JSON.parse(r.signature) as HeadSignature);
    const certs = new Map<string, string>();
    for (const s of signatures) {
      if (certs.has(s.cert)) continue;
      const [c] = await this.o.db.query<{ pem: string }>(`SELECT pem FROM cu_certs WHERE fingerprint = $1`, [s.cert]);
      if (c) certs.set(s.cert, c.pem);
    }
    return { entries, signatures, certs };
  }

  /** A verified head also verifies pending entries of its chain that it reaches through stored links. */
  private async settlePending(siteId: string, head: ChainEntry): Promise<void> {
    const pending = await this.o.db.query<{ seq: number | bigint }>(
      `SELECT seq FROM cu_segments WHERE site_id = $1 AND chain = $2 AND verdict = 'pending' AND seq < $3`,
      [siteId, head.chain, head.seq],
    );
    if (!pending.length) return;
    const rows = await this.o.db.query<{ seq: number | bigint; link: string; prev: string }>(`SELECT seq, link, prev FROM cu_entries WHERE site_id = $1 AND chain = $2 AND seq <= $3 ORDER BY seq DESC`, [siteId, head.chain, head.seq]);
    const reached = new Set<number>();
    let expect = head.link;
    let next = head.seq;
    for (const r of rows) {
      if (Number(r.seq) !== next || r.link !== expect) break;
      reached.add(next);
      expect = r.prev;
      next--;
    }
    const seqs = pending.map((p) => Number(p.seq)).filter((q) => reached.has(q));
    if (!seqs.length) return;
    await this.o.db.run(
      `UPDATE cu_segments SET verdict = 'verified', why = $1, checked_ms = $2
       WHERE site_id = $3 AND chain = $4 AND verdict = 'pending' AND seq IN (SELECT (jsonb_array_elements_text($5::jsonb -> 's'))::bigint)`,
      [`reached by the signature of entry ${head.seq}`, Math.floor(this.o.clock.now()), siteId, head.chain, { s: seqs }],
    );
  }

  private async record(siteId: string, seg: { cameraId: string; stream: string; startMs: number; sha256: string }, e: ChainEntry | null, verdict: CustodyVerdict, why: string): Promise<void> {
    await this.o.db.run(
      `INSERT INTO cu_segments (site_id, camera_id, stream, start_ms, sha256, chain, seq, verdict, why, checked_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (site_id, camera_id, stream, start_ms) DO UPDATE SET sha256 = excluded.sha256, chain = excluded.chain, seq = excluded.seq, verdict = excluded.verdict, why = excluded.why, checked_ms = excluded.checked_ms`,
      [siteId, seg.cameraId, seg.stream, seg.startMs, seg.sha256, e?.chain ?? null, e?.seq ?? null, verdict, why, Math.floor(this.o.clock.now())],
    );
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
