/**
 * RTSP authentication (RFC 2617 as RTSP uses it): Basic and Digest (MD5, qop=auth or none),
 * both sides. Client: answer a WWW-Authenticate challenge on every request (Authenticator).
 * Server: make a challenge, read an Authorization header, verify a Digest response.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface Credentials {
  user: string;
  password: string;
}

export interface AuthHeader {
  /** Lower case: "basic", "digest", … */
  scheme: string;
  /** Digest's name=value pairs (names lower case); empty for Basic. */
  params: Map<string, string>;
  /** What follows the scheme (Basic's base64). */
  rest: string;
}

const md5 = (s: string) => createHash("md5").update(s).digest("hex");

/** `"…"` with `\` and `"` escaped (RFC 2616 quoted-string). */
export function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Parses `Scheme a=b, c="d \" e"` (a WWW-Authenticate or Authorization value); null without a scheme. */
export function parseAuthHeader(value: string): AuthHeader | null {
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+([\s\S]*))?$/.exec(value);
  if (!m) return null;
  const rest = (m[2] ?? "").trim();
  const params = new Map<string, string>();
  for (const p of rest.matchAll(/([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\[\s\S])*)"|([^,\s]*))/g)) {
    params.set(p[1]!.toLowerCase(), p[2] !== undefined ? p[2].replace(/\\([\s\S])/g, "$1") : p[3]!);
  }
  return { scheme: m[1]!.toLowerCase(), params, rest };
}

/** Of several WWW-Authenticate values, Digest if offered (real cameras expect it), else the first. */
export function pickChallenge(values: readonly string[]): string | undefined {
  return values.find((v) => /^\s*digest/i.test(v)) ?? values[0];
}

export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString("base64")}`;
}

/** User and password of a Basic Authorization value; null when it is not one. */
export function parseBasic(value: string): Credentials | null {
  const m = /^\s*Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(value);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The Digest response hash (RFC 2617 §3.2.2.1). */
export function digestResponse(a: { user: string; password: string; realm: string; nonce: string; method: string; uri: string; qop?: { nc: string; cnonce: string } }): string {
  const ha1 = md5(`${a.user}:${a.realm}:${a.password}`);
  const ha2 = md5(`${a.method}:${a.uri}`);
  return a.qop ? md5(`${ha1}:${a.nonce}:${a.qop.nc}:${a.qop.cnonce}:auth:${ha2}`) : md5(`${ha1}:${a.nonce}:${ha2}`);
}

/** Client side: answers one WWW-Authenticate challenge (Digest, qop=auth if offered; else Basic) on every request. */
export class Authenticator {
  private nc = 0;
  private readonly digest: Map<string, string> | undefined;
  constructor(
    challenge: string,
    private readonly cred: Credentials,
  ) {
    const c = parseAuthHeader(challenge);
    if (c?.scheme === "digest") this.digest = c.params;
  }
  header(method: string, uri: string): string {
    const d = this.digest;
    if (!d) return basicAuthorization(this.cred);
    const { user, password } = this.cred;
    const realm = d.get("realm") ?? "";
    const nonce = d.get("nonce") ?? "";
    const opaque = d.has("opaque") ? `, opaque=${quote(d.get("opaque")!)}` : "";
    const common = `Digest username=${quote(user)}, realm=${quote(realm)}, nonce=${quote(nonce)}, uri=${quote(uri)}`;
    if (/\bauth\b/.test(d.get("qop") ?? "")) {
      const nc = (++this.nc).toString(16).padStart(8, "0");
      const cnonce = randomBytes(8).toString("hex");
      const response = digestResponse({ user, password, realm, nonce, method, uri, qop: { nc, cnonce } });
      return `${common}, response="${response}", qop=auth, nc=${nc}, cnonce="${cnonce}"${opaque}`;
    }
    return `${common}, response="${digestResponse({ user, password, realm, nonce, method, uri })}"${opaque}`;
  }
}

/** Server side: a Digest challenge with a fresh nonce (the caller keeps the nonce to check it later). */
export function digestChallenge(realm: string, o: { nonce?: string; qop?: boolean } = {}): { header: string; nonce: string } {
  const nonce = o.nonce ?? randomBytes(16).toString("hex");
  return { header: `Digest realm=${quote(realm)}, nonce=${quote(nonce)}${o.qop ? `, qop="auth"` : ""}`, nonce };
}

/**
 * Server side: whether a Digest Authorization value answers `nonce` in `realm` for this method
 * with `password` (the caller looks the password up by the value's username). The URI hashed
 * is the header's own `uri`, as RFC 2617 says; the caller may also require it to match the request.
 */
export function verifyDigest(value: string, o: { method: string; realm: string; nonce: string; password: string }): { user: string; uri: string } | null {
  const a = parseAuthHeader(value);
  if (!a || a.scheme !== "digest") return null;
  const p = a.params;
  const user = p.get("username");
  const uri = p.get("uri");
  const got = p.get("response");
  if (user === undefined || uri === undefined || got === undefined || p.get("realm") !== o.realm || p.get("nonce") !== o.nonce) return null;
  const qop = p.get("qop");
  if (qop !== undefined && qop !== "auth") return null;
  const nc = p.get("nc");
  const cnonce = p.get("cnonce");
  if (qop && (nc === undefined || cnonce === undefined)) return null;
  const want = digestResponse({ user, password: o.password, realm: o.realm, nonce: o.nonce, method: o.method, uri, ...(qop ? { qop: { nc: nc!, cnonce: cnonce! } } : {}) });
  const a1 = Buffer.from(want);
  const b1 = Buffer.from(got.toLowerCase());
  return a1.length === b1.length && timingSafeEqual(a1, b1) ? { user, uri } : null;
}
