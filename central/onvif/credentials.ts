/**
 * Who is calling the ONVIF bridge. Central keeps only argon2id hashes of passwords, and both
 * ONVIF digest schemes (WS-Security PasswordDigest, HTTP Digest) need a secret the verifier can
 * recompute. So each user has an **ONVIF password** derived, not stored:
 * HMAC-SHA256(bridge key, name + the user's current password hash). It changes whenever the
 * password changes, dies with the user (disabled or deleted), and the bridge key
 * (<dataDir>/onvif/bridge.key, 0600) rotates them all. Clear-text forms (PasswordText, HTTP
 * Basic) are checked against the central password itself (Users.verify: argon2, throttled).
 * Digest failures count against the same login throttle as every other login.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { mkdirPrivate, writeFileAtomic } from "../../lib/fsutil.ts";
import { DigestTokens, HttpDigest, safeEqual, usernameToken } from "../../lib/onvif/index.ts";
import type { Subject } from "../rights/index.ts";

export interface OnvifUsers {
  verify(name: string, password: string, client?: string): Promise<{ kind: "ok"; session: Subject } | { kind: "denied" } | { kind: "throttled"; retryAfterMs: number }>;
  passwordStamp(name: string): string | undefined;
  subject(name: string): Subject | null;
  throttle: { begin(user: string, address: string): { ok: true; attempt: { succeed(): void; fail(): void } } | { ok: false; retryAfterMs: number } };
}

export type AuthResult = { kind: "ok"; subject: Subject; via: string } | { kind: "absent" } | { kind: "bad"; user?: string; why: string };

/** The bridge key: created once, random, private to central's data dir. */
export async function loadBridgeKey(dataDir: string): Promise<Buffer> {
  const dir = join(dataDir, "onvif");
  const file = join(dir, "bridge.key");
  try {
    const k = Buffer.from((await readFile(file, "utf8")).trim(), "base64");
    if (k.length >= 32) return k;
  } catch {
    // first start
  }
  await mkdirPrivate(dir);
  const k = randomBytes(32);
  await writeFileAtomic(file, k.toString("base64") + "\n");
  return k;
}

export class OnvifCredentials {
  private readonly tokens = new DigestTokens();
  readonly http: HttpDigest;

  constructor(
    private readonly key: Buffer,
    private readonly users: OnvifUsers,
    realm = "Outpost ONVIF",
  ) {
    this.http = new HttpDigest(realm);
  }

  /** The user's ONVIF password (what a VMS is given), or undefined for an unknown or disabled user. */
  passwordFor(user: string): string | undefined {
    const stamp = this.users.passwordStamp(user);
    if (stamp === undefined) return undefined;
    return createHmac("sha256", this.key).update(`onvif\0${user}\0${stamp}`).digest("base64url").slice(0, 24);
  }

  /** WS-Security first (it names the user inside the request), then the HTTP Authorization header. */
  async authenticate(method: string, authorization: string | null, xml: string, client: string, now: number): Promise<AuthResult> {
    const t = usernameToken(xml);
    if (t === "bad") return { kind: "bad", why: "incomplete UsernameToken" };
    if (t !== "absent") {
      if (t.digest) return this.digestOutcome(t.username, client, this.tokens.verify(t, this.passwordFor(t.username), now), "ws-security digest");
      return this.clearText(t.username, t.password, client, "ws-security text");
    }
    const c = this.http.credentials(authorization);
    if (!c) return authorization ? { kind: "bad", why: "unreadable Authorization header" } : { kind: "absent" };
    if (c.kind === "basic") return this.clearText(c.user, c.password, client, "http basic");
    return this.digestOutcome(c.user, client, this.http.verifyDigest(method, c, this.passwordFor(c.user), now), "http digest");
  }

  /**
   * Users.verify that also takes the ONVIF password, for RTSP out: a VMS uses the credentials it
   * onboarded the device with for the stream URIs too.
   */
  async verify(user: string, password: string, client = "unknown"): Promise<{ kind: "ok"; session: Subject } | { kind: "denied" } | { kind: "throttled"; retryAfterMs: number }> {
    const r = await this.clearText(user, password, client, "rtsp");
    if (r.kind === "ok") return { kind: "ok", session: r.subject };
    return r.kind === "bad" && r.why === "throttled" ? { kind: "throttled", retryAfterMs: 1000 } : { kind: "denied" };
  }

  private digestOutcome(user: string, client: string, ok: boolean, via: string): AuthResult {
    // Reserved before the outcome counts, like every other login (lib/auth/throttle.ts).
    const d = this.users.throttle.begin(user, client);
    if (!d.ok) return { kind: "bad", user, why: "throttled" };
    const subject = ok ? this.users.subject(user) : null;
    if (!subject) {
      d.attempt.fail();
      return { kind: "bad", user, why: "wrong user or ONVIF password" };
    }
    d.attempt.succeed();
    return { kind: "ok", subject, via };
  }

  private async clearText(user: string, password: string, client: string, via: string): Promise<AuthResult> {
    // The ONVIF password works in clear-text forms too (a VMS is given one password for everything).
    const derived = this.passwordFor(user);
    if (derived !== undefined && safeEqual(derived, password)) return this.digestOutcome(user, client, true, via);
    const r = await this.users.verify(user, password, client);
    if (r.kind === "ok") return { kind: "ok", subject: r.session, via };
    return { kind: "bad", user, why: r.kind === "throttled" ? "throttled" : "wrong user or password" };
  }
}
