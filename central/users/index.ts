/**
 * central/users/: local user accounts and login sessions for central's HTTP API. Owns the
 * users and sessions tables in central.duckdb; knows nothing of sites or PKI. Passwords are
 * argon2id hashes; session tokens are random and stored only as SHA-256. The role column is
 * where the users/roles issue extends this (today every user is "admin").
 */
import { promises as fs } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Db } from "../db.ts";

export interface Session {
  user: string;
  role: string;
  expiresAt: string;
}

export interface UsersOptions {
  db: Db;
  clock: Clock;
  log: Logger;
  sessionTtlMs: number;
}

export class Users {
  constructor(private readonly o: UsersOptions) {}

  async init(): Promise<void> {
    await this.o.db.run(`CREATE TABLE IF NOT EXISTS users (name VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, role VARCHAR NOT NULL, created_at VARCHAR NOT NULL)`);
    await this.o.db.run(`CREATE TABLE IF NOT EXISTS sessions (token_hash VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, expires_at VARCHAR NOT NULL)`);
  }

  /**
   * First start: create "admin" with a random password, written to `passwordFile` (0600) so the
   * demo and the operator can read it once. Returns the password only when it was just created.
   */
  async ensureAdmin(passwordFile: string): Promise<{ created: boolean; password?: string }> {
    const rows = await this.o.db.all(`SELECT name FROM users WHERE name = 'admin'`);
    if (rows.length > 0) return { created: false };
    const password = Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64url");
    await this.create("admin", password, "admin");
    await fs.writeFile(passwordFile, password + "\n", { mode: 0o600 });
    await fs.chmod(passwordFile, 0o600);
    this.o.log.info("created user admin; its password is in the data dir", { file: passwordFile });
    return { created: true, password };
  }

  async create(name: string, password: string, role: string): Promise<void> {
    if (password.length < 8) throw new Error("a password needs at least 8 characters");
    const hash = await Bun.password.hash(password, { algorithm: "argon2id" });
    await this.o.db.run(`INSERT INTO users VALUES ($1, $2, $3, $4)`, [name, hash, role, new Date(this.o.clock.now()).toISOString()]);
  }

  /** Returns a bearer token, or null when the user or password is wrong (no hint which). */
  async login(name: string, password: string): Promise<{ token: string; session: Session } | null> {
    const rows = await this.o.db.all<{ password_hash: string; role: string }>(`SELECT password_hash, role FROM users WHERE name = $1`, [name]);
    const row = rows[0];
    // Verify against a dummy hash when the user is unknown so timing does not reveal names.
    const ok = await Bun.password.verify(password, row?.password_hash ?? DUMMY_HASH).catch(() => false);
    if (!row || !ok) return null;
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const expiresAt = new Date(this.o.clock.now() + this.o.sessionTtlMs).toISOString();
    await this.o.db.run(`INSERT INTO sessions VALUES ($1, $2, $3)`, [sha256(token), name, expiresAt]);
    return { token, session: { user: name, role: row.role, expiresAt } };
  }

  async authenticate(token: string): Promise<Session | null> {
    if (!token || token.length > 200) return null;
    const h = sha256(token);
    const rows = await this.o.db.all<{ token_hash: string; user_name: string; expires_at: string; role: string }>(
      `SELECT s.token_hash, s.user_name, s.expires_at, u.role FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.token_hash = $1`,
      [h],
    );
    const r = rows[0];
    if (!r || !timingSafeEqual(Buffer.from(r.token_hash), Buffer.from(h))) return null;
    if (Date.parse(r.expires_at) <= this.o.clock.now()) {
      await this.o.db.run(`DELETE FROM sessions WHERE token_hash = $1`, [h]);
      return null;
    }
    return { user: r.user_name, role: r.role, expiresAt: r.expires_at };
  }

  async logout(token: string): Promise<void> {
    await this.o.db.run(`DELETE FROM sessions WHERE token_hash = $1`, [sha256(token)]);
  }
}

const DUMMY_HASH = await Bun.password.hash("not-a-real-password", { algorithm: "argon2id" });

function sha256(s: string): string {
  return new Bun.CryptoHasher("sha256").update(s).digest("hex");
}
