/**
 * Central's trust service: enrollment, renewal, confirmation, revocation and expiry watch,
 * on top of the CA (ca.ts), the registry (registry.ts) and the journals (journal.ts). Listeners
 * call it; it never reads identity from anything but a checked PeerIdentity.
 */
import "reflect-metadata"; // before @peculiar/x509 (tsyringe needs the polyfill loaded first)
import * as x509 from "@peculiar/x509";
import { issueSiteCert, normSerial, verifyCsr } from "../federation/pki.ts";
import { certStatus, parseToken, type CertStatus, type IssuedIdentity } from "../federation/enrollment.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log/index.ts";
import { HttpProblem, badRequest, conflict, notFound } from "../lib/http/problem.ts";
import type { CentralConfig } from "./config.ts";
import type { Pki } from "./ca.ts";
import type { CertRef, Registry, SiteRecord } from "./registry.ts";
import type { PeerIdentity, SessionTable } from "./peers.ts";
import { appendRevocation, checkToken, createToken, markTokenUsed, readRevocations, type CreatedToken } from "./journal.ts";
import { dataPaths } from "./files.ts";

export interface SiteView {
  id: string;
  name: string;
  state: SiteRecord["state"];
  online: boolean;
  enrolledAt: string;
  revokedAt: string | null;
  lastSeenAt: string | null;
  certificate: CertStatus | null;
  pendingCertificate: CertStatus | null;
  warnings: string[];
}

/** A site's presence known elsewhere (another node owns it); undefined: this node's own knowledge is the answer. */
export type RemotePresence = (siteId: string) => { online: boolean; lastSeenMs: number } | undefined;

export class Trust {
  /** Presence of the sites another node owns (central/cluster/presence.ts, set by composeCentral). */
  presence: RemotePresence | undefined;
  private enrollLock: Promise<unknown> = Promise.resolve();
  private readonly paths: ReturnType<typeof dataPaths>;
  private revocationsSeen = 0;
  federationUrl = "";
  mqttUrl = "";

  constructor(
    readonly cfg: CentralConfig,
    readonly pki: Pki,
    readonly registry: Registry,
    readonly sessions: SessionTable,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Called after a site is revoked or superseded so the MQTT layer can drop its client. */
    private readonly onCut: (siteId: string) => void = () => {},
  ) {
    this.paths = dataPaths(cfg.dataDir);
  }

  private iso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  createEnrollmentToken(site: string, ttlHours = this.cfg.enrollment.tokenTtlHours): Promise<CreatedToken> {
    return createToken(this.paths.tokens, { site, ttlHours, now: this.clock.now(), caFingerprint: this.pki.caFingerprint }).then((t) => {
      this.log.info("enrollment token created", { siteId: t.siteId, tokenId: t.tokenId, expiresAt: t.expiresAt });
      return t;
    });
  }

  /** Token + CSR → certificate. Serialized so one token can never be used twice concurrently. */
  enroll(tokenText: string, csrPem: string): Promise<IssuedIdentity> {
    const run = async (): Promise<IssuedIdentity> => {
      let parsed;
      try {
        parsed = parseToken(tokenText);
      } catch (e) {
        throw badRequest((e as Error).message);
      }
      if (parsed.caFingerprint !== this.pki.caFingerprint) {
        throw new HttpProblem(403, "Wrong central", "This token was made by a different central (its CA fingerprint does not match).");
      }
      const check = await checkToken(this.paths.tokens, parsed, this.clock.now());
      if (!check.ok) {
        this.log.warn("enrollment refused", { tokenId: parsed.id, reason: check.reason });
        throw new HttpProblem(check.reason === "unknown" ? 401 : 410, "Enrollment token refused", check.message, { reason: check.reason });
      }
      const publicKey = await this.csrKey(csrPem);
      if (this.registry.get(check.siteId)) throw conflict(`Site ${check.siteId} is already enrolled.`);
      const cert = await this.issue(check.siteId, publicKey);
      // Mark the token used before the site row: a crash in between burns the token but never
      // leaves a reusable token for an issued certificate.
      await markTokenUsed(this.paths.tokens, parsed.id, this.iso(), cert.serial);
      await this.registry.enroll(check.siteId, check.siteName, cert, this.iso());
      this.log.info("site enrolled", { siteId: check.siteId, serial: cert.serial, notAfter: cert.notAfter });
      return { siteId: check.siteId, siteName: check.siteName, certPem: cert.pem, caPem: this.pki.bundlePem, federationUrl: this.federationUrl, mqttUrl: this.mqttUrl };
    };
    const next = this.enrollLock.then(run, run);
    this.enrollLock = next.catch(() => undefined);
    return next;
  }

  /** Renewal over mTLS: a fresh key's CSR → pending certificate; the presented one stays valid. */
  async renew(peer: PeerIdentity, csrPem: string): Promise<{ certPem: string; caPem: string }> {
    const publicKey = await this.csrKey(csrPem);
    const cert = await this.issue(peer.siteId, publicKey);
    await this.registry.setPending(peer.siteId, cert, this.iso());
    this.log.info("site certificate renewed (pending confirmation)", { siteId: peer.siteId, serial: cert.serial });
    return { certPem: cert.pem, caPem: this.pki.bundlePem };
  }

  /** Called over a connection made with the new certificate; the old one stops working. */
  async confirm(peer: PeerIdentity): Promise<SiteRecord> {
    const before = this.registry.get(peer.siteId);
    const rec = await this.registry.confirm(peer.siteId, peer.serial);
    if (before?.current && before.current.serial !== peer.serial) {
      const old = before.current.serial;
      const n = this.sessions.closeWhere(peer.siteId, (p) => p.serial === old);
      this.log.info("site certificate rotation confirmed", { siteId: peer.siteId, serial: peer.serial, closedOldSessions: n });
    }
    return rec;
  }

  /** Revoke: persist to the journal first (survives restarts), then cut sessions. */
  async revokeSite(siteId: string, reason: string | null = null): Promise<SiteRecord> {
    const s = this.registry.get(siteId);
    if (!s) throw notFound(`No site with id ${siteId}.`);
    if (s.state !== "revoked") await appendRevocation(this.paths.revocations, siteId, this.iso(), reason);
    return this.applyRevocation(siteId, this.iso(), reason);
  }

  private async applyRevocation(siteId: string, at: string, reason: string | null): Promise<SiteRecord> {
    const rec = (await this.registry.revoke(siteId, at, reason))!;
    const n = this.sessions.closeWhere(siteId);
    this.onCut(siteId);
    this.log.warn("site revoked", { siteId, closedSessions: n });
    return rec;
  }

  /**
   * Another node revoked the site or replaced its certificate (the registry followed the
   * change): this node's open sessions of it end now, as on the node that made the change.
   */
  cutElsewhere(siteId: string): void {
    const s = this.registry.get(siteId);
    const accepted = new Set(s && s.state === "active" ? [s.current?.serial, s.pending?.serial].filter(Boolean) : []);
    const n = this.sessions.closeWhere(siteId, (p) => !accepted.has(p.serial));
    if (!s || s.state !== "active") this.onCut(siteId);
    this.log.warn("site sessions cut: changed on another node", { siteId, state: s?.state ?? "unknown", closedSessions: n });
  }

  /** Pick up revocations appended by another process (the CLI); also drop expired sessions. */
  async poll(): Promise<void> {
    const lines = await readRevocations(this.paths.revocations);
    if (lines.length !== this.revocationsSeen) {
      for (const l of lines.slice(this.revocationsSeen)) {
        const s = this.registry.get(l.siteId);
        if (s && s.state !== "revoked") await this.applyRevocation(l.siteId, l.at, l.reason);
      }
      this.revocationsSeen = lines.length;
    }
    this.sessions.closeExpired(this.clock.now());
  }

  async applyAllRevocations(): Promise<void> {
    this.revocationsSeen = 0;
    await this.poll();
  }

  certificates(): CertStatus[] {
    const now = this.clock.now();
    const w = this.cfg.pki.expiryWarningDays;
    const out = this.pki.bundle.map((c) => certStatus("ca", c, now, w));
    out.push(certStatus("server", this.pki.serverCert, now, w));
    for (const s of this.registry.list()) {
      if (s.state === "active" && s.current) out.push(certStatus("site", refCert(s.current, s.id), now, w));
    }
    return out;
  }

  siteView(s: SiteRecord): SiteView {
    const now = this.clock.now();
    const w = this.cfg.pki.expiryWarningDays;
    const certificate = s.current ? certStatus("site", refCert(s.current, s.id), now, w) : null;
    const warnings: string[] = [];
    if (s.state === "active" && certificate?.warning) warnings.push(`certificate expires ${certificate.notAfter} (${certificate.daysLeft} days left)`);
    // Connected here, or (for a site another node owns) online as its owner wrote it.
    const here = this.sessions.count(s.id) > 0;
    const remote = this.presence?.(s.id);
    const remoteSeen = remote && remote.lastSeenMs > 0 ? new Date(remote.lastSeenMs).toISOString() : null;
    const lastSeenAt = remoteSeen && (!s.lastSeenAt || remoteSeen > s.lastSeenAt) ? remoteSeen : s.lastSeenAt;
    return {
      id: s.id,
      name: s.name,
      state: s.state,
      online: here || (s.state === "active" && !!remote?.online),
      enrolledAt: s.enrolledAt,
      revokedAt: s.revokedAt,
      lastSeenAt,
      certificate,
      pendingCertificate: s.pending ? certStatus("site", refCert(s.pending, s.id), now, w) : null,
      warnings,
    };
  }

  private async csrKey(csrPem: string): Promise<x509.PublicKey> {
    try {
      return await verifyCsr(csrPem);
    } catch (e) {
      throw badRequest(`Certificate request refused: ${(e as Error).message}.`);
    }
  }

  private async issue(siteId: string, publicKey: x509.PublicKey): Promise<CertRef> {
    const cert = await issueSiteCert({ ca: this.pki.ca, publicKey, now: this.clock.now(), lifetimeDays: this.cfg.pki.siteCertLifetimeDays, siteId });
    return { serial: normSerial(cert.serialNumber), notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString(), pem: cert.toString("pem") };
  }
}

function refCert(c: CertRef, siteId: string) {
  return { subject: `CN=${siteId}, O=Outpost`, serialNumber: c.serial, notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter) };
}
