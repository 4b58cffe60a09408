/**
 * central/users/: user accounts, roles, camera groups and login sessions for central's HTTP
 * API. Owns the users, roles, camera_groups and sessions tables in central's database
 * (central/db; schema in its migrations) and an in-memory copy of them (read on every
 * request). Knows nothing of sites or PKI; what a grant means is central/rights. Passwords are
 * argon2id (lib/auth); session tokens are random and stored only as SHA-256, in the database
 * so a restart keeps people logged in.
 *
 * Several central nodes share the tables: every write NOTIFYs `users_changed`; follow()
 * re-reads on each notification and every few seconds besides, so a user disabled, a role
 * narrowed or a session ended on one node ends on all within seconds. A session made on
 * another node is read through from its row at first use.
 *
 * The idle timeout is judged cluster-wide: each node writes its sessions' last use to the row
 * (`last_used_ms`, migration 0012) at most once per `sessionUseWriteMs` per session, all due
 * sessions in one statement from the sweep; before ending a session as idle a node reads the
 * rows of its idle candidates (one query), so a session in use on node A is not idled out by B.
 */
import { writeFileAtomic } from "../../lib/fsutil.ts";
import { z } from "zod";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { LoginThrottle, burnVerify, hashPassword, verifyPassword, type ThrottleOptions } from "../../lib/auth/index.ts";
import type { Database } from "../db/index.ts";
import { Grant, RIGHTS, type Subject } from "../rights/index.ts";
import { UserStreams } from "./streams.ts";

export { UserStreams, type HeldStream } from "./streams.ts";

export interface Session extends Subject {
  user: string;
  /** First role (kept for clients of the first API version). */
  role: string;
  roles: string[];
  expiresAt: string;
  /** Which login session this is (SHA-256 of its token); absent for per-connection checks (RTSP). */
  sessionId?: string;
}

export const Name = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._@-]+$/, "use letters, digits and . _ @ - only");
export const Password = z.string().min(8, "a password needs at least 8 characters").max(1000);

export const Role = z.object({
  name: Name,
  description: z.string().max(500).default(""),
  grants: z.array(Grant).max(1000),
});
export type Role = z.infer<typeof Role>;

export const CameraGroup = z.object({ name: Name, cameras: z.array(z.string().min(1).max(200)).max(100_000) });
export type CameraGroup = z.infer<typeof CameraGroup>;

export const UserView = z.object({ name: z.string(), roles: z.array(z.string()), disabled: z.boolean(), createdAt: z.string() });
export type UserView = z.infer<typeof UserView>;

/** Built in and read-only: every right on everything. */
export const ADMIN_ROLE: Role = { name: "admin", description: "every right on every site and camera", grants: [{ rights: [...RIGHTS], scope: "*", maxPriority: "alarm" }] };

export type LoginResult =
  | { kind: "ok"; token: string; session: Session }
  | { kind: "denied" }
  | { kind: "throttled"; retryAfterMs: number };

export class UserError extends Error {
  constructor(
    message: string,
    readonly code: "not-found" | "conflict" | "invalid",
  ) {
    super(message);
  }
}

export interface UsersOptions {
  db: Database;
  clock: Clock;
  log: Logger;
  sessionTtlMs: number;
  /** A session unused for this long ends (an open live stream counts as use); default 30 min. */
  sessionIdleMs?: number;
  /** A session's last use is written to its row at most this often (other nodes judge idleness by it); default idle / 10, at most 1 min. */
  sessionUseWriteMs?: number;
  throttle?: ThrottleOptions;
  /** Streams held open by users, closed here when their access ends or narrows. */
  streams?: UserStreams;
}

interface UserRow {
  hash: string;
  roles: string[];
  disabled: boolean;
  createdAt: string;
}

/**
 * A login session as this node holds it: `lastSeenMs` its last use known here (its own, or the
 * row's), `writtenMs` the last use the row is known to hold, `wroteAtMs` when this node last
 * wrote it (the write throttle).
 */
interface SessionState {
  user: string;
  expiresAtMs: number;
  lastSeenMs: number;
  writtenMs: number;
  wroteAtMs: number;
}

/** The NOTIFY channel of user, role, group and session writes. */
export const USERS_CHANNEL = "users_changed";

export class Users {
  private users = new Map<string, UserRow>();
  private roles = new Map<string, Role>();
  private groups = new Map<string, Set<string>>();
  private sessions = new Map<string, SessionState>();
  readonly throttle: LoginThrottle;
  readonly streams: UserStreams;
  readonly sessionIdleMs: number;
  private readonly useWriteMs: number;

  constructor(private readonly o: UsersOptions) {
    this.throttle = new LoginThrottle(o.clock, o.throttle);
    this.streams = o.streams ?? new UserStreams();
    this.sessionIdleMs = o.sessionIdleMs ?? 30 * 60_000;
    this.useWriteMs = o.sessionUseWriteMs ?? Math.min(60_000, this.sessionIdleMs / 10);
  }

  async init(): Promise<void> {
    await this.readAccounts();
    const db = this.o.db;
    const now = this.o.clock.now();
    await db.run(`DELETE FROM sessions WHERE expires_at <= $1`, [new Date(now).toISOString()]);
    for (const r of await db.query<{ token_hash: string; user_name: string; expires_at: string }>(`SELECT token_hash, user_name, expires_at FROM sessions`)) {
      this.sessions.set(r.token_hash, { user: r.user_name, expiresAtMs: Date.parse(r.expires_at), lastSeenMs: now, writtenMs: now, wroteAtMs: 0 }); // a grace here, not a use to tell others
    }
  }

  /** Users, roles and camera groups from the tables. */
  private async readAccounts(): Promise<void> {
    const db = this.o.db;
    const users = new Map<string, UserRow>();
    const roles = new Map<string, Role>();
    const groups = new Map<string, Set<string>>();
    for (const r of await db.query<{ name: string; password_hash: string; roles: string; disabled: boolean; created_at: string }>(`SELECT name, password_hash, roles, disabled, created_at FROM users`)) {
      users.set(r.name, { hash: r.password_hash, roles: JSON.parse(r.roles) as string[], disabled: r.disabled, createdAt: r.created_at });
    }
    for (const r of await db.query<{ json: string }>(`SELECT json FROM roles`)) {
      const role = Role.parse(JSON.parse(r.json));
      roles.set(role.name, role);
    }
    roles.set(ADMIN_ROLE.name, ADMIN_ROLE);
    for (const r of await db.query<{ json: string }>(`SELECT json FROM camera_groups`)) {
      const g = CameraGroup.parse(JSON.parse(r.json));
      groups.set(g.name, new Set(g.cameras));
    }
    this.users = users;
    this.roles = roles;
    this.groups = groups;
  }

  /**
   * Re-reads everything another node may have changed: users (a disabled, deleted or
   * re-passworded user's sessions and streams end here too), roles and groups (open streams
   * re-checked), and sessions (one ended elsewhere ends here).
   */
  async reload(): Promise<void> {
    const before = this.users;
    const beforeRoles = JSON.stringify([...this.roles.values()]) + JSON.stringify([...this.groups].map(([n, g]) => [n, [...g]]));
    await this.readAccounts();
    const rows = await this.o.db.query<{ token_hash: string }>(`SELECT token_hash FROM sessions`);
    const live = new Set(rows.map((r) => r.token_hash));
    for (const [name, u] of before) {
      const now = this.users.get(name);
      if (!now || now.disabled || now.hash !== u.hash) this.forget(name, !now ? "user deleted" : now.disabled ? "user disabled" : "password changed");
    }
    for (const [h, s] of [...this.sessions]) {
      if (live.has(h)) continue;
      this.sessions.delete(h);
      const n = this.streams.endSession(s.user, h, "session ended on another node");
      if (n) this.o.log.info("streams closed: session ended", { user: s.user, streams: n });
    }
    const afterRoles = JSON.stringify([...this.roles.values()]) + JSON.stringify([...this.groups].map(([n, g]) => [n, [...g]]));
    if (afterRoles !== beforeRoles) this.recheckAll("roles or camera groups changed on another node");
    else for (const [name, u] of before) if (JSON.stringify(this.users.get(name)?.roles) !== JSON.stringify(u.roles)) this.recheck(name, "roles changed on another node");
  }

  /**
   * Follows other nodes' writes: reload() on every `users_changed` notification and every
   * `intervalMs` (the safety net: a lost notification costs latency, never correctness).
   */
  async follow(o: { intervalMs: number; onError: (e: Error) => void }): Promise<() => Promise<void>> {
    let running: Promise<void> | null = null;
    let again = false;
    const refresh = (): void => {
      if (running) return void (again = true);
      running = this.reload()
        .catch((e: Error) => o.onError(e))
        .finally(() => {
          running = null;
          if (again) (again = false), refresh();
        });
    };
    const unlisten = await this.o.db.listen(USERS_CHANNEL, refresh);
    const timer = setInterval(refresh, o.intervalMs);
    return async () => {
      clearInterval(timer);
      await unlisten();
      await running;
    };
  }

  private changed(): Promise<void> {
    return this.o.db.notify(USERS_CHANNEL, "");
  }

  /** A user's access ended on another node: this node's sessions and streams of it end. */
  private forget(name: string, why: string): void {
    for (const [h, s] of this.sessions) if (s.user === name) this.sessions.delete(h);
    const streams = this.streams.endUser(name, why);
    if (streams) this.o.log.info("streams closed: access ended", { user: name, streams, why });
  }

  /**
   * First start: create "admin" with a random password, written to `passwordFile` (0600) so the
   * demo and the operator can read it once. Returns the password only when it was just created.
   * `fromConfig` (a password set in central's config) replaces the random one.
   */
  async ensureAdmin(passwordFile: string, fromConfig?: string): Promise<{ created: boolean; password?: string }> {
    if (this.users.has("admin")) return { created: false };
    const password = fromConfig ?? Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64url");
    // The file first: a crash between the two then leaves no admin whose password nobody knows.
    if (!fromConfig) await writeFileAtomic(passwordFile, password + "\n");
    await this.create("admin", password, "admin");
    if (fromConfig) return { created: true };
    this.o.log.info("created user admin; its password is in the data dir", { file: passwordFile });
    return { created: true, password };
  }

  /** Kept for the first API version: one role. */
  async create(name: string, password: string, role: string): Promise<void> {
    await this.createUser({ name, password, roles: [role] });
  }

  async createUser(u: { name: string; password: string; roles: string[] }): Promise<UserView> {
    const name = Name.parse(u.name);
    Password.parse(u.password);
    if (this.users.has(name)) throw new UserError(`A user named ${name} exists already.`, "conflict");
    this.checkRoles(u.roles);
    const hash = await hashPassword(u.password);
    const createdAt = new Date(this.o.clock.now()).toISOString();
    await this.o.db.run(`INSERT INTO users (name, password_hash, role, created_at, roles, disabled) VALUES ($1, $2, $3, $4, $5, false)`, [name, hash, u.roles[0] ?? "", createdAt, JSON.stringify(u.roles)]);
    this.users.set(name, { hash, roles: [...u.roles], disabled: false, createdAt });
    await this.changed();
    return this.user(name)!;
  }

  async updateUser(name: string, p: { password?: string; roles?: string[]; disabled?: boolean }): Promise<UserView> {
    const u = this.users.get(name);
    if (!u) throw new UserError(`No user named ${name}.`, "not-found");
    if (p.roles) this.checkRoles(p.roles);
    if (name === "admin" && (p.disabled || (p.roles && !p.roles.includes("admin")))) throw new UserError("The admin user keeps the admin role and cannot be disabled.", "invalid");
    const next = { ...u, roles: p.roles ?? u.roles, disabled: p.disabled ?? u.disabled, hash: p.password !== undefined ? await hashPassword(Password.parse(p.password)) : u.hash };
    await this.o.db.run(`UPDATE users SET password_hash = $2, role = $3, roles = $4, disabled = $5 WHERE name = $1`, [name, next.hash, next.roles[0] ?? "", JSON.stringify(next.roles), next.disabled]);
    this.users.set(name, next);
    if (next.disabled || p.password !== undefined) await this.dropSessions(name, next.disabled ? "user disabled" : "password changed");
    else if (p.roles) this.recheck(name, "roles changed");
    await this.changed();
    return this.user(name)!;
  }

  async deleteUser(name: string): Promise<void> {
    if (!this.users.has(name)) throw new UserError(`No user named ${name}.`, "not-found");
    if (name === "admin") throw new UserError("The admin user cannot be deleted.", "invalid");
    await this.o.db.run(`DELETE FROM users WHERE name = $1`, [name]);
    this.users.delete(name);
    await this.dropSessions(name, "user deleted");
    await this.changed();
  }

  user(name: string): UserView | null {
    const u = this.users.get(name);
    return u ? { name, roles: u.roles, disabled: u.disabled, createdAt: u.createdAt } : null;
  }

  listUsers(): UserView[] {
    return [...this.users.keys()].sort().map((n) => this.user(n)!);
  }

  listRoles(): Role[] {
    return [...this.roles.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  role(name: string): Role | null {
    return this.roles.get(name) ?? null;
  }

  async putRole(role: Role): Promise<Role> {
    const r = Role.parse(role);
    if (r.name === ADMIN_ROLE.name) throw new UserError("The admin role is built in and cannot be changed.", "invalid");
    for (const g of r.grants) if (g.scope.startsWith("group:") && !this.groups.has(g.scope.slice(6))) throw new UserError(`No camera group named ${g.scope.slice(6)}.`, "invalid");
    await this.o.db.run(`INSERT INTO roles (name, json) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET json = excluded.json`, [r.name, JSON.stringify(r)]);
    this.roles.set(r.name, r);
    this.recheckAll(`role ${r.name} changed`);
    await this.changed();
    return r;
  }

  async deleteRole(name: string): Promise<void> {
    if (name === ADMIN_ROLE.name) throw new UserError("The admin role is built in and cannot be deleted.", "invalid");
    if (!this.roles.has(name)) throw new UserError(`No role named ${name}.`, "not-found");
    const users = [...this.users].filter(([, u]) => u.roles.includes(name)).map(([n]) => n);
    if (users.length) throw new UserError(`Role ${name} is still given to ${users.join(", ")}.`, "conflict");
    await this.o.db.run(`DELETE FROM roles WHERE name = $1`, [name]);
    this.roles.delete(name);
    await this.changed();
  }

  cameraGroups(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.groups;
  }

  listGroups(): CameraGroup[] {
    return [...this.groups].sort(([a], [b]) => a.localeCompare(b)).map(([name, s]) => ({ name, cameras: [...s] }));
  }

  async putGroup(g: CameraGroup): Promise<CameraGroup> {
    const v = CameraGroup.parse(g);
    await this.o.db.run(`INSERT INTO camera_groups (name, json) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET json = excluded.json`, [v.name, JSON.stringify(v)]);
    this.groups.set(v.name, new Set(v.cameras));
    this.recheckAll(`camera group ${v.name} changed`);
    await this.changed();
    return v;
  }

  async deleteGroup(name: string): Promise<void> {
    if (!this.groups.has(name)) throw new UserError(`No camera group named ${name}.`, "not-found");
    const used = [...this.roles.values()].filter((r) => r.grants.some((g) => g.scope === `group:${name}`)).map((r) => r.name);
    if (used.length) throw new UserError(`Camera group ${name} is used by role ${used.join(", ")}.`, "conflict");
    await this.o.db.run(`DELETE FROM camera_groups WHERE name = $1`, [name]);
    this.groups.delete(name);
    await this.changed();
  }

  private checkRoles(roles: string[]): void {
    const unknown = roles.filter((r) => !this.roles.has(r));
    if (unknown.length) throw new UserError(`No role named ${unknown.join(", ")}.`, "invalid");
  }

  /**
   * The user's current grants without a password check, for credentials that stand in for one
   * (RTSP stream credentials, central/live/rtsp/credentials.ts). null if unknown or disabled.
   */
  subjectOf(name: string): Session | null {
    return this.session(name, this.o.clock.now() + this.o.sessionTtlMs);
  }

  private session(name: string, expiresAtMs: number, sessionId?: string): Session | null {
    const u = this.users.get(name);
    if (!u || u.disabled) return null;
    const grants = u.roles.flatMap((r) => this.roles.get(r)?.grants ?? []);
    return { user: name, role: u.roles[0] ?? "", roles: u.roles, grants, expiresAt: new Date(expiresAtMs).toISOString(), ...(sessionId ? { sessionId } : {}) };
  }

  /** The user's grants changed: their open streams are checked against the new ones. */
  private recheck(name: string, why: string): void {
    const n = this.streams.recheck(name, this.session(name, this.o.clock.now() + 1), why);
    if (n) this.o.log.info("streams closed: rights changed", { user: name, streams: n, why });
  }

  private recheckAll(why: string): void {
    for (const name of this.streams.users()) this.recheck(name, why);
  }

  /**
   * An admin's "end this user's sessions and streams": every login session and every open live
   * or RTSP stream of the user ends now. The password stays, so RTSP players that stored it can
   * reconnect; disable the user or change the password to keep them out.
   */
  async endSessions(name: string): Promise<{ sessions: number; streams: number }> {
    if (!this.users.has(name)) throw new UserError(`No user named ${name}.`, "not-found");
    return this.dropSessions(name, "sessions ended by an administrator");
  }

  /**
   * A bearer token, or why not. After too many failures for the user name or the client
   * address, attempts are refused without checking the password (lib/auth LoginThrottle).
   */
  async login(name: string, password: string, client = "unknown"): Promise<LoginResult> {
    const v = await this.verify(name, password, client);
    if (v.kind !== "ok") return v;
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const expiresAtMs = this.o.clock.now() + this.o.sessionTtlMs;
    const h = sha256(token);
    const now = this.o.clock.now();
    await this.o.db.run(`INSERT INTO sessions (token_hash, user_name, expires_at, last_used_ms) VALUES ($1, $2, $3, $4)`, [h, name, new Date(expiresAtMs).toISOString(), now]);
    this.sessions.set(h, { user: name, expiresAtMs, lastSeenMs: now, writtenMs: now, wroteAtMs: now });
    return { kind: "ok", token, session: this.session(name, expiresAtMs, h)! };
  }

  /**
   * Checks a name and password without opening a session, for protocols that authenticate each
   * connection themselves (RTSP Basic). Same throttle and timing behaviour as login().
   */
  async verify(name: string, password: string, client = "unknown"): Promise<{ kind: "ok"; session: Session } | { kind: "denied" } | { kind: "throttled"; retryAfterMs: number }> {
    const t = this.throttle.begin(name, client);
    if (!t.ok) return { kind: "throttled", retryAfterMs: t.retryAfterMs };
    const u = this.users.get(name);
    // Verify against a dummy hash when the user is unknown so timing does not reveal names.
    const ok = u ? await verifyPassword(password, u.hash) : (await burnVerify(password), false);
    // Re-read: the user may have been disabled, deleted or given a new password during the check.
    const cur = this.users.get(name);
    if (!u || !ok || !cur || cur.disabled || cur.hash !== u.hash) {
      t.attempt.fail();
      return { kind: "denied" };
    }
    t.attempt.succeed();
    return { kind: "ok", session: this.session(name, this.o.clock.now() + this.o.sessionTtlMs)! };
  }

  /**
   * For protocols whose digests need a per-user secret central can recompute (ONVIF): a value
   * that changes whenever the user's password does (the stored hash), or undefined for an
   * unknown or disabled user. Never leaves the process.
   */
  passwordStamp(name: string): string | undefined {
    const u = this.users.get(name);
    return u && !u.disabled ? u.hash : undefined;
  }

  /** The user's current grants, as verify() would give them, without a password (already authenticated by another scheme). */
  subject(name: string): Session | null {
    return this.session(name, this.o.clock.now() + this.o.sessionTtlMs);
  }

  async authenticate(token: string): Promise<Session | null> {
    if (!token || token.length > 200) return null;
    const h = sha256(token);
    const s = this.sessions.get(h) ?? (await this.readSession(h));
    if (!s) return null;
    const now = this.o.clock.now();
    const why = this.ended(h, s, now);
    if (why) {
      await this.endSession(h, s.user, why);
      return null;
    }
    s.lastSeenMs = now;
    return this.session(s.user, s.expiresAtMs, h);
  }

  /** A session another node opened (its row), taken into this node's copy; null if there is none. */
  private async readSession(h: string): Promise<SessionState | null> {
    const [r] = await this.o.db.query<{ user_name: string; expires_at: string; last_used_ms: number | null }>(`SELECT user_name, expires_at, last_used_ms FROM sessions WHERE token_hash = $1`, [h]);
    if (!r) return null;
    const s = { user: r.user_name, expiresAtMs: Date.parse(r.expires_at), lastSeenMs: this.o.clock.now(), writtenMs: Number(r.last_used_ms ?? 0), wroteAtMs: 0 };
    this.sessions.set(h, s);
    return s;
  }

  /** Why a session is over at `now` (absolute expiry, or idle with no stream open), or null. */
  private ended(h: string, s: { expiresAtMs: number; lastSeenMs: number }, now: number): string | null {
    if (s.expiresAtMs <= now) return "session expired";
    if (now - s.lastSeenMs < this.sessionIdleMs) return null;
    if (this.streams.inUse(h)) {
      s.lastSeenMs = now; // watching live is use
      return null;
    }
    return "session idle";
  }

  /**
   * Ends expired and idle sessions and the streams they opened; central runs it every second.
   * First writes the last use of sessions used here (throttled, one statement), then reads the
   * rows of those that look idle here (one query): another node's use keeps them.
   */
  async sweep(): Promise<number> {
    const now = this.o.clock.now();
    await this.writeUse(now);
    const idle = [...this.sessions].filter(([h, s]) => s.expiresAtMs > now && this.ended(h, s, now) === "session idle").map(([h]) => h);
    if (idle.length) {
      const rows = await this.o.db.query<{ token_hash: string; last_used_ms: number | null }>(
        `SELECT token_hash, last_used_ms FROM sessions WHERE token_hash IN (SELECT jsonb_array_elements_text($1::jsonb -> 'h'))`,
        [{ h: idle }], // an object: a top-level array would be sent as a PostgreSQL array
      );
      for (const r of rows) {
        const s = this.sessions.get(r.token_hash);
        const used = Number(r.last_used_ms ?? 0);
        if (s && used > s.lastSeenMs) (s.lastSeenMs = used), (s.writtenMs = Math.max(s.writtenMs, used));
      }
    }
    let n = 0;
    for (const [h, s] of [...this.sessions]) {
      const why = this.ended(h, s, now);
      if (why) (await this.endSession(h, s.user, why), n++);
    }
    return n;
  }

  /** The last use of each session used here since its row last heard of it, at most once per useWriteMs each: one statement. */
  private async writeUse(now: number): Promise<void> {
    const due = [...this.sessions].filter(([, s]) => s.lastSeenMs > s.writtenMs && now - s.wroteAtMs >= this.useWriteMs);
    if (!due.length) return;
    await this.o.db.run(
      `UPDATE sessions SET last_used_ms = greatest(coalesce(sessions.last_used_ms, 0), v.t) FROM jsonb_to_recordset($1::jsonb -> 'u') AS v(h text, t bigint) WHERE sessions.token_hash = v.h`,
      [{ u: due.map(([h, s]) => ({ h, t: s.lastSeenMs })) }],
    );
    for (const [, s] of due) (s.writtenMs = s.lastSeenMs), (s.wroteAtMs = now);
  }

  async logout(token: string): Promise<boolean> {
    const h = sha256(token);
    const s = this.sessions.get(h);
    if (!s) return false;
    await this.endSession(h, s.user, "logged out");
    return true;
  }

  private async endSession(h: string, user: string, why: string): Promise<void> {
    this.sessions.delete(h);
    const n = this.streams.endSession(user, h, why);
    if (n) this.o.log.info("streams closed: session ended", { user, streams: n, why });
    await this.o.db.run(`DELETE FROM sessions WHERE token_hash = $1`, [h]);
    await this.changed();
  }

  private async dropSessions(name: string, why: string): Promise<{ sessions: number; streams: number }> {
    let sessions = 0;
    for (const [h, s] of this.sessions) if (s.user === name) (this.sessions.delete(h), sessions++);
    const streams = this.streams.endUser(name, why);
    if (streams) this.o.log.info("streams closed: access ended", { user: name, streams, why });
    await this.o.db.run(`DELETE FROM sessions WHERE user_name = $1`, [name]);
    await this.changed();
    return { sessions, streams };
  }
}

export function sha256(s: string): string {
  return new Bun.CryptoHasher("sha256").update(s).digest("hex");
}

const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
/**
 * This module's tables as central.duckdb held them before central/db (with API keys, stream
 * credentials and saved views, which moved with them): moved once at the first start
 * (central/db/from-duckdb.ts). Old rows may lack `roles` and `disabled` (added later).
 */
export const USER_TABLES_IN_DUCKDB = [
  { table: "users", columns: ["name", "password_hash", "role", "roles", "disabled", "created_at"], row: (r: Record<string, unknown>) => [str(r.name), str(r.password_hash), str(r.role), str(r.roles) ?? JSON.stringify([r.role]), r.disabled === true, str(r.created_at)] },
  { table: "sessions", columns: ["token_hash", "user_name", "expires_at"], row: (r: Record<string, unknown>) => [str(r.token_hash), str(r.user_name), str(r.expires_at)] },
  { table: "roles", columns: ["name", "json"], row: (r: Record<string, unknown>) => [str(r.name), str(r.json)] },
  { table: "camera_groups", columns: ["name", "json"], row: (r: Record<string, unknown>) => [str(r.name), str(r.json)] },
  { table: "api_keys", columns: ["id", "key_hash", "name", "site_id", "created_by", "created_at"], row: (r: Record<string, unknown>) => [str(r.id), str(r.key_hash), str(r.name), str(r.site_id), str(r.created_by), str(r.created_at)] },
  { table: "rtsp_credentials", columns: ["id", "user_name", "label", "secret_hash", "created_at"], row: (r: Record<string, unknown>) => [str(r.id), str(r.user_name), str(r.label), str(r.secret_hash), str(r.created_at)] },
  { table: "web_views", columns: ["user_name", "name", "body", "updated_ms"], row: (r: Record<string, unknown>) => [str(r.user_name), str(r.name), str(r.body), Number(r.updated_ms)] },
];
