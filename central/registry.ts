/**
 * Site registry: enrolled sites, their certificates (current and pending during a rotation)
 * and revocation state. Persisted in central's database (central/db; tables `sites` and
 * `certificates`, schema in its migrations); mirrored in memory because every TLS handshake on
 * the federation and MQTT listeners asks "is this serial acceptable for this site?".
 *
 * Several central nodes share the tables: every write NOTIFYs `registry_changed`, and
 * follow() re-reads on each notification and every few seconds besides if the table changed
 * (a lost notification costs latency, never correctness), so a site enrolled, rotated or
 * revoked through one node is known to all within seconds.
 */
import { tableFingerprint, type Database, type SqlValue } from "./db/index.ts";

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

/** The NOTIFY channel of registry writes (payload: the site id). */
export const REGISTRY_CHANNEL = "registry_changed";

export class Registry {
  private sites = new Map<string, SiteRecord>();
  /** ids() answers, kept until the sites change (a new array then: callers may compare by identity). */
  private idLists: { all?: readonly string[]; active?: readonly string[] } = {};
  /** The table's fingerprint (see fingerprint()) when this node last read it whole. */
  private readStamp: string | null = null;
  constructor(private readonly db: Database) {}

  async init(): Promise<void> {
    const stamp = await this.fingerprint();
    this.sites = await this.read();
    this.idLists = {};
    this.readStamp = stamp;
  }

  /**
   * central/db tableFingerprint of `sites`. The safety-net re-read asks it first and reads the
   * fleet's rows (≈ 0.9 KB each with certificates) only when it moved: every node re-reading
   * 4,000 sites every heartbeat was ~40 % of an idle cluster node's JS samples.
   */
  private fingerprint(): Promise<string> {
    return tableFingerprint(this.db, "sites");
  }

  /** The safety net's re-read: the whole table only if it changed since this node last read it whole. */
  async reloadIfChanged(): Promise<string[]> {
    if (this.readStamp !== null && (await this.fingerprint()) === this.readStamp) return [];
    return this.reload();
  }

  /**
   * Re-reads the tables (another node may have written them); returns the sites whose
   * accepted certificates changed — revoked, or a serial no longer accepted — so the caller
   * can cut their open sessions on this node. With `ids`, only those sites' rows.
   */
  async reload(ids?: string[]): Promise<string[]> {
    // Taken before the read: a write landing during it shows at the next check.
    const stamp = ids ? null : await this.fingerprint();
    const next = ids ? await this.readSome(ids) : await this.read();
    if (stamp !== null) this.readStamp = stamp;
    const cut: string[] = [];
    const serials = (r: SiteRecord | undefined) => (r && r.state === "active" ? [r.current?.serial, r.pending?.serial].filter(Boolean) : []);
    for (const id of ids ?? this.sites.keys()) {
      const before = this.sites.get(id);
      const after = next.get(id);
      if (!before) continue;
      const still = new Set(serials(after));
      if (serials(before).some((x) => !still.has(x))) cut.push(id);
      if (after) after.lastSeenAt = before.lastSeenAt ?? after.lastSeenAt; // sightings are this node's
    }
    this.idLists = {};
    if (!ids) this.sites = next;
    else
      for (const id of ids) {
        const after = next.get(id);
        if (after) this.sites.set(id, after);
        else this.sites.delete(id);
      }
    return cut;
  }

  /**
   * Follows other nodes' writes: on a `registry_changed` notification (its payload names the
   * site) that site's row is read again; every `intervalMs` (the safety net for a missed
   * notification) the whole table if its fingerprint moved since the last whole read. `onCut` gets each site whose certificates stopped being
   * accepted. Returns stop.
   */
  async follow(o: { intervalMs: number; onCut: (siteId: string) => void; onError: (e: Error) => void }): Promise<() => Promise<void>> {
    let running: Promise<void> | null = null;
    const dirty = new Set<string>();
    let full = false;
    const run = (): void => {
      if (running || (!full && !dirty.size)) return;
      const ids = full ? undefined : [...dirty];
      dirty.clear();
      full = false;
      running = (ids ? this.reload(ids) : this.reloadIfChanged())
        .then((cut) => cut.forEach((id) => o.onCut(id)))
        .catch((e: Error) => o.onError(e))
        .finally(() => {
          running = null;
          run();
        });
    };
    const refresh = (siteId?: string): void => {
      if (siteId) dirty.add(siteId);
      else full = true;
      run();
    };
    const unlisten = await this.db.listen(REGISTRY_CHANNEL, (payload) => refresh(payload || undefined));
    const timer = setInterval(() => refresh(), o.intervalMs);
    return async () => {
      clearInterval(timer);
      await unlisten();
      await running;
    };
  }

  /** Rows per page of a whole-table read (a fleet's 2,000 rows with certificates are ≈ 1.8 MB). */
  private static readonly PAGE = 250;

  /**
   * The whole table, in pages by id: a single multi-megabyte result of 2,000 sites stalled
   * (the server blocked writing it to a client that had stopped reading, seen with two nodes
   * in the control-plane benchmark), holding every other statement of the node behind it.
   */
  private async read(): Promise<Map<string, SiteRecord>> {
    const sites = new Map<string, SiteRecord>();
    let after = "";
    for (;;) {
      const rows = await this.db.query<Record<string, string | null>>(`SELECT id, name, state, enrolled_at, revoked_at, revoked_reason, current_cert, pending_cert, last_seen_at FROM sites WHERE id > $1 ORDER BY id LIMIT $2`, [after, Registry.PAGE]);
      for (const r of rows) sites.set(r.id!, toRecord(r));
      if (rows.length < Registry.PAGE) return sites;
      after = rows.at(-1)!.id!;
    }
  }

  /** Named sites only (notifications are rare: an enrolment, a rotation, a revocation). */
  private async readSome(ids: string[]): Promise<Map<string, SiteRecord>> {
    const out = new Map<string, SiteRecord>();
    for (const id of ids) {
      const [r] = await this.db.query<Record<string, string | null>>(`SELECT id, name, state, enrolled_at, revoked_at, revoked_reason, current_cert, pending_cert, last_seen_at FROM sites WHERE id = $1`, [id]);
      if (r) out.set(id, toRecord(r));
    }
    return out;
  }

  get(id: string): SiteRecord | undefined {
    return this.sites.get(id);
  }

  /**
   * Site ids (only the active ones with `active`), unsorted: what periodic per-site work iterates,
   * without building records' views. The same array until the sites change, so per-site work
   * derived from it (central/cluster owned-sites.ts) is redone only then.
   */
  ids(o: { active?: boolean } = {}): readonly string[] {
    const key = o.active ? "active" : "all";
    const kept = this.idLists[key];
    if (kept) return kept;
    const out: string[] = [];
    for (const s of this.sites.values()) if (!o.active || s.state === "active") out.push(s.id);
    this.idLists[key] = out;
    return out;
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
    // Another node may have enrolled or changed it: its row only. A whole-table read here cost
    // a fleet's rows per revocation, and took in other sites' changes without reporting them,
    // so follow() never cut those sites' sessions.
    await this.reload([id]);
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
    await this.db.run(
      `INSERT INTO certificates (serial, site_id, issued_at, not_before, not_after, pem) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (serial) DO UPDATE SET site_id = excluded.site_id, issued_at = excluded.issued_at, not_before = excluded.not_before, not_after = excluded.not_after, pem = excluded.pem`,
      [c.serial, id, at, c.notBefore, c.notAfter, c.pem],
    );
  }

  private async save(s: SiteRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO sites (id, name, state, enrolled_at, revoked_at, revoked_reason, current_cert, pending_cert, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, enrolled_at = excluded.enrolled_at, revoked_at = excluded.revoked_at, revoked_reason = excluded.revoked_reason,
         current_cert = excluded.current_cert, pending_cert = excluded.pending_cert, last_seen_at = excluded.last_seen_at`,
      [
        s.id,
        s.name,
        s.state,
        s.enrolledAt,
        s.revokedAt,
        s.revokedReason,
        s.current ? JSON.stringify(s.current) : null,
        s.pending ? JSON.stringify(s.pending) : null,
        s.lastSeenAt,
      ],
    );
    this.sites.set(s.id, s);
    this.idLists = {};
    await this.db.notify(REGISTRY_CHANNEL, s.id);
  }
}

const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const row = (cols: string[]) => (r: Record<string, unknown>): SqlValue[] => cols.map((c) => str(r[c]));
const SITE_COLUMNS = ["id", "name", "state", "enrolled_at", "revoked_at", "revoked_reason", "current_cert", "pending_cert", "last_seen_at"];
const CERT_COLUMNS = ["serial", "site_id", "issued_at", "not_before", "not_after", "pem"];
/** The registry's tables as central.duckdb held them before central/db: moved once at the first start (central/db/from-duckdb.ts). */
export const REGISTRY_TABLES_IN_DUCKDB = [
  { table: "sites", columns: SITE_COLUMNS, row: row(SITE_COLUMNS) },
  { table: "certificates", columns: CERT_COLUMNS, row: row(CERT_COLUMNS) },
];

function toRecord(r: Record<string, string | null>): SiteRecord {
  return {
    id: r.id!,
    name: r.name!,
    state: r.state as SiteState,
    enrolledAt: r.enrolled_at!,
    revokedAt: r.revoked_at ?? null,
    revokedReason: r.revoked_reason ?? null,
    current: r.current_cert ? (JSON.parse(r.current_cert) as CertRef) : null,
    pending: r.pending_cert ? (JSON.parse(r.pending_cert) as CertRef) : null,
    lastSeenAt: r.last_seen_at ?? null,
  };
}
