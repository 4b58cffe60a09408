/**
 * The enrollment and renewal protocol between an edge and central: token format and the JSON
 * bodies of each call. The token carries the SHA-256 fingerprint of the CA certificate so an
 * edge that has never seen central can check that the CA it downloads is the one the admin's
 * central uses, and then verify the enrollment server against it (see docs/design/trust.md).
 */
import { z } from "zod";

export const TOKEN_PREFIX = "op1";

export interface ParsedToken {
  /** Public lookup id (hex). */
  id: string;
  /** The secret half; central stores only its SHA-256. */
  secret: string;
  /** SHA-256 of the CA certificate DER, lower-case hex. */
  caFingerprint: string;
}

export function formatToken(t: ParsedToken): string {
  return [TOKEN_PREFIX, t.id, t.secret, Buffer.from(t.caFingerprint, "hex").toString("base64url")].join(".");
}

export function parseToken(s: string): ParsedToken {
  const parts = s.trim().split(".");
  if (parts.length !== 4 || parts[0] !== TOKEN_PREFIX) {
    throw new Error("this is not an Outpost enrollment token (expected op1.<id>.<secret>.<ca-fingerprint>)");
  }
  const [, id, secret, fp] = parts as [string, string, string, string];
  const fpHex = Buffer.from(fp, "base64url").toString("hex");
  if (!/^[0-9a-f]{16}$/.test(id) || !/^[A-Za-z0-9_-]{43}$/.test(secret) || fpHex.length !== 64) {
    throw new Error("the enrollment token is damaged (wrong length or characters); copy it again");
  }
  return { id, secret, caFingerprint: fpHex };
}

export function newTokenParts(caFingerprint: string): ParsedToken {
  return {
    id: Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex"),
    secret: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url"),
    caFingerprint,
  };
}

export function hashSecret(secret: string): string {
  return new Bun.CryptoHasher("sha256").update(secret).digest("hex");
}

/** Paths on central's enrollment listener (TLS server-auth only; the edge has no certificate yet). */
export const ENROLL_PATHS = { ca: "/enroll/v1/ca", enroll: "/enroll/v1/enroll" } as const;
/** Paths on central's federation listener (mTLS). */
export const FEDERATION_PATHS = {
  whoami: "/federation/v1/whoami",
  ca: "/federation/v1/ca",
  renew: "/federation/v1/renew",
  confirm: "/federation/v1/renew/confirm",
} as const;

export const EnrollRequest = z.object({
  token: z.string().min(1).max(400),
  csr: z.string().min(1).max(10_000),
});
export type EnrollRequest = z.infer<typeof EnrollRequest>;

export const IssuedIdentity = z.object({
  siteId: z.string(),
  siteName: z.string(),
  /** Leaf certificate PEM. */
  certPem: z.string(),
  /** CA bundle PEM (one or more CA certificates: during a CA rotation old + new). */
  caPem: z.string(),
  federationUrl: z.string(),
  mqttUrl: z.string(),
});
export type IssuedIdentity = z.infer<typeof IssuedIdentity>;

export const RenewRequest = z.object({ csr: z.string().min(1).max(10_000) });
export type RenewRequest = z.infer<typeof RenewRequest>;

export const ConfirmResponse = z.object({ siteId: z.string(), serial: z.string(), notAfter: z.string() });
export type ConfirmResponse = z.infer<typeof ConfirmResponse>;

export const WhoAmI = z.object({ siteId: z.string(), serial: z.string(), notAfter: z.string(), state: z.enum(["current", "pending"]) });
export type WhoAmI = z.infer<typeof WhoAmI>;

/** Certificate expiry as shown in health and site lists on both sides. */
export const CertStatus = z.object({
  kind: z.enum(["ca", "server", "site"]),
  subject: z.string(),
  serial: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  daysLeft: z.number(),
  /** True when the certificate expires within the warning window (default 14 days) or already has. */
  warning: z.boolean(),
});
export type CertStatus = z.infer<typeof CertStatus>;

export const EXPIRY_WARNING_DAYS = 14;

export function certStatus(
  kind: CertStatus["kind"],
  cert: { subject: string; serialNumber: string; notBefore: Date; notAfter: Date },
  now: number,
  warnDays = EXPIRY_WARNING_DAYS,
): CertStatus {
  const left = (cert.notAfter.getTime() - now) / 86_400_000;
  return {
    kind,
    subject: cert.subject,
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    daysLeft: Math.floor(left * 10) / 10,
    warning: left <= warnDays,
  };
}
