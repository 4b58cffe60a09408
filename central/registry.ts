/**
 * Site registry: enrolled sites, their certificates (current and pending during a rotation)
 * and revocation state. Persisted in DuckDB; mirrored in memory because every TLS handshake on
 * the federation and MQTT listeners asks "is this serial acceptable for this site?".
 */
import type { Db } from "./db.ts";

export type SiteState = "active" | "revoked";

export interface CertRef {
  serial: string;
  notBefore: string;
  notAfter: string;
  pem: string;
}

export interface SiteRecord {
  id: string;
  name: string;
  state: SiteState;
  enrolledAt: string;
  revokedAt: string | null;
  revokedReason: string | null;
  current: CertRef | null;
  /** Issued during rotation, not yet confirmed by the edge. Both current and pending are accepted. */
  pending: CertRef | null;
  lastSeenAt: string | null;
}

export class Registry {
  private readonly sites = new Map<string, SiteRecord>();
  constructor(private readonly db: Db) {}

  async init(): Promise<void> {
    await this.db.run(`CREATE TABLE IF NOT EXISTS sites (
      id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, state VARCHAR NOT NULL, enrolled_at VARCHAR NOT NULL,
      revoked_at VARCHAR, revoked_reason VARCHAR, current_cert VARCHAR, pending_cert VARCHAR, last_seen_at VARCHAR)`);
    await this.db.run(`CREATE TABLE IF NOT EXISTS certificates (
      serial VARCHAR PRIMARY KEY, site_id VARCHAR NOT NULL, issued_at VARCHAR NOT NULL,
      not_before VARCHAR NOT NULL, not_after VARCHAR NOT NULL, pem VARCHAR NOT NULL)`);
    const rows = await this.db.all<Record<string, string | null>>(`SELECT * FROM sites`);
    for (const r of rows) {
      this.sites.set(r.id!, {
        id: r.id!,
        name: r.name!,
        state: r.state as SiteState,
        enrolledAt: r.enrolled_at!,
        revokedAt: r.revoked_at ?? null,
        revokedReason: r.revoked_reason ?? null,
        current: r.current_cert ? (JSON.parse(r.current_cert) as CertRef) : null,
        pending: r.pending_cert ? (JSON.parse(r.pending_cert) as CertRef) : null,
        lastSeenAt: r.last_seen_at ?? null,
      });
    }
  }

  get(id: string): SiteRecord | undefined {
    return this.sites.get(id);
  }

  list(): SiteRecord[] {
    return [...this.sites.values()].sort((a, b) => a.enrolledAt.localeCompare(b.enrolledAt));
  }

  /** Which role a presented serial has for this site, or null if it must be refused. */
  accepts(siteId: string, serial: string): "current" | "pending" | null {
    const s = this.sites.get(siteId);
    if (!s || s.state !== "active") return null;
    if (s.current?.serial === serial) return "current";
    if (s.pending?.serial === serial) return "pending";
    return null;
  }

  async enroll(id: string, name: string, cert: CertRef, at: string): Promise<SiteRecord> {
    const rec: SiteRecord = { id, name, state: "active", enrolledAt: at, revokedAt: null, revokedReason: null, current: cert, pending: null, lastSeenAt: null };
    await this.recordCert(id, cert, at);
    await this.save(rec);
    return rec;
  }

  async setPending(id: string, cert: CertRef, at: string): Promise<void> {
    const s = this.mustGet(id);
    await this.recordCert(id, cert, at);
    await this.save({ ...s, pending: cert });
  }

  /** Promote pending to current; the previous current serial is no longer accepted. */
  async confirm(id: string, serial: string): Promise<SiteRecord> {
    const s = this.mustGet(id);
    if (s.current?.serial === serial) return s;
    if (s.pending?.serial !== serial) throw new Error("this certificate is not the pending one");
    const next = { ...s, current: s.pending, pending: null };
    await this.save(next);
    return next;
  }

  async revoke(id: string, at: string, reason: string | null): Promise<SiteRecord | null> {
    const s = this.sites.get(id);
    if (!s) return null;
    if (s.state === "revoked") return s;
    const next: SiteRecord = { ...s, state: "revoked", revokedAt: at, revokedReason: reason };
    await this.save(next);
    return next;
  }

  touch(id: string, at: string): void {
    const s = this.sites.get(id);
    if (s) s.lastSeenAt = at; // in memory only: a restart forgets sightings, not trust
  }

  private mustGet(id: string): SiteRecord {
    const s = this.sites.get(id);
    if (!s) throw new Error(`unknown site ${id}`);
    return s;
  }

  private async recordCert(id: string, c: CertRef, at: string): Promise<void> {
    await this.db.run(`INSERT OR REPLACE INTO certificates VALUES ($1, $2, $3, $4, $5, $6)`, [c.serial, id, at, c.notBefore, c.notAfter, c.pem]);
  }

  private async save(s: SiteRecord): Promise<void> {
    await this.db.run(`INSERT OR REPLACE INTO sites VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
      s.id,
      s.name,
      s.state,
      s.enrolledAt,
      s.revokedAt,
      s.revokedReason,
      s.current ? JSON.stringify(s.current) : null,
      s.pending ? JSON.stringify(s.pending) : null,
      s.lastSeenAt,
    ]);
    this.sites.set(s.id, s);
  }
}
