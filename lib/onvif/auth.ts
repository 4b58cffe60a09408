/**
 * The two credential schemes ONVIF clients use: WS-Security UsernameToken (PasswordDigest or
 * PasswordText) in the SOAP header, and HTTP Digest (RFC 7616, MD5, qop=auth) with stateless
 * HMAC nonces; Basic is read too. Both digests need the clear secret on the verifying side, so
 * the caller passes `secretOf(user)`; clear-text forms (PasswordText, Basic) are handed back to
 * the caller to verify however it stores passwords.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { text } from "./soap.ts";

export type Check = "absent" | "ok" | "bad";

export interface UsernameToken {
  username: string;
  password: string;
  digest: boolean;
  nonce?: string;
  created?: string;
}

/** The UsernameToken of a request, "absent", or "bad" when one is there but incomplete. */
export function usernameToken(xml: string): UsernameToken | "absent" | "bad" {
  if (!/<(?:[\w.-]+:)?UsernameToken\b/.test(xml)) return "absent";
  const username = text(xml, "Username");
  const pw = /<(?:[\w.-]+:)?Password\b([^>]*)>([^<]*)</.exec(xml);
  if (username === undefined || !pw) return "bad";
  const digest = /PasswordDigest/.test(pw[1] ?? "");
  const nonce = text(xml, "Nonce");
  const created = text(xml, "Created");
  return { username, password: (pw[2] ?? "").trim(), digest, ...(nonce ? { nonce } : {}), ...(created ? { created } : {}) };
}

/**
 * Verifies PasswordDigest tokens (Base64(SHA1(nonce + created + secret))) with a freshness
 * window and a replay cache of nonces, as real devices with replay protection do.
 */
export class DigestTokens {
  private seen = new Map<string, number>();
  constructor(private readonly maxSkewMs = 5 * 60_000) {}

  verify(t: UsernameToken, secret: string | undefined, now: number): boolean {
    if (!t.digest || !t.nonce || !t.created || secret === undefined) return false;
    const createdMs = Date.parse(t.created);
    if (Number.isNaN(createdMs) || Math.abs(now - createdMs) > this.maxSkewMs) return false;
    const expect = createHash("sha1")
      .update(Buffer.concat([Buffer.from(t.nonce, "base64"), Buffer.from(t.created, "utf8"), Buffer.from(secret, "utf8")]))
      .digest("base64");
    if (!safeEqual(t.password, expect)) return false;
    this.prune(now);
    if (this.seen.has(t.nonce)) return false;
    this.seen.set(t.nonce, now);
    return true;
  }

  private prune(now: number): void {
    if (this.seen.size < 1000) return;
    for (const [n, t] of this.seen) if (now - t > 2 * this.maxSkewMs) this.seen.delete(n);
  }
}

/** Verifies a WS-Security UsernameToken against one fixed user/password (a simulated camera). */
export class WsSecurity {
  private tokens: DigestTokens;
  constructor(
    private user: string,
    private password: string,
    maxSkewMs = 5 * 60_000,
  ) {
    this.tokens = new DigestTokens(maxSkewMs);
  }

  check(xml: string, now: number): Check {
    const t = usernameToken(xml);
    if (t === "absent" || t === "bad") return t;
    if (t.username !== this.user) return "bad";
    if (!t.digest) return safeEqual(t.password, this.password) ? "ok" : "bad";
    return this.tokens.verify(t, this.password, now) ? "ok" : "bad";
  }
}

export type HttpCredentials = { kind: "basic"; user: string; password: string } | { kind: "digest"; user: string; params: Record<string, string> };

/** HTTP Digest with stateless HMAC nonces (no per-client state), and Basic parsing. */
export class HttpDigest {
  private secret = randomBytes(16);
  constructor(
    readonly realm: string,
    private nonceTtlMs = 5 * 60_000,
  ) {}

  challenge(now: number): string {
    const ts = now.toString(16);
    const nonce = `${ts}.${createHmac("sha256", this.secret).update(ts).digest("hex").slice(0, 32)}`;
    return `Digest realm="${this.realm}", qop="auth", nonce="${nonce}", algorithm=MD5`;
  }

  /** What an Authorization header carries; undefined when absent or unreadable. */
  credentials(authorization: string | null): HttpCredentials | undefined {
    if (!authorization) return undefined;
    if (/^Basic /i.test(authorization)) {
      const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8");
      const i = decoded.indexOf(":");
      return i < 0 ? undefined : { kind: "basic", user: decoded.slice(0, i), password: decoded.slice(i + 1) };
    }
    if (!/^Digest /i.test(authorization)) return undefined;
    const params = parseAuthParams(authorization.slice(7));
    return params.username === undefined ? undefined : { kind: "digest", user: params.username, params };
  }

  /** Verifies Digest credentials against the user's clear secret. */
  verifyDigest(method: string, c: Extract<HttpCredentials, { kind: "digest" }>, secret: string | undefined, now: number): boolean {
    const p = c.params;
    if (secret === undefined || p.realm !== this.realm || !p.nonce || !p.uri || !p.response) return false;
    const [ts, mac] = p.nonce.split(".");
    if (!ts || !mac || !safeEqual(createHmac("sha256", this.secret).update(ts).digest("hex").slice(0, 32), mac)) return false;
    if (now - parseInt(ts, 16) > this.nonceTtlMs) return false;
    const md5 = (s: string) => createHash("md5").update(s).digest("hex");
    const ha1 = md5(`${c.user}:${this.realm}:${secret}`);
    const ha2 = md5(`${method}:${p.uri}`);
    const expect = p.qop ? md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : md5(`${ha1}:${p.nonce}:${ha2}`);
    return safeEqual(p.response, expect);
  }
}

/** HTTP digest/basic against one fixed user/password (a simulated camera). */
export class HttpAuth {
  private digest: HttpDigest;
  constructor(
    private user: string,
    private password: string,
    readonly realm = "camsim",
    nonceTtlMs = 5 * 60_000,
  ) {
    this.digest = new HttpDigest(realm, nonceTtlMs);
  }

  challenge(now: number): string {
    return this.digest.challenge(now);
  }

  check(method: string, authorization: string | null, now: number): Check {
    if (!authorization) return "absent";
    const c = this.digest.credentials(authorization);
    if (!c || c.user !== this.user) return "bad";
    if (c.kind === "basic") return safeEqual(c.password, this.password) ? "ok" : "bad";
    return this.digest.verifyDigest(method, c, this.password, now) ? "ok" : "bad";
  }
}

function parseAuthParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^\s,]*))/g)) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? "";
  return out;
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
