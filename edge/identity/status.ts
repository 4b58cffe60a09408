/** Certificate expiry of an identity: its own certificate and the pinned CAs (federation/enrollment certStatus). */
import { certStatus, EXPIRY_WARNING_DAYS, type CertStatus } from "../../federation/enrollment.ts";
import { parseBundle, parseCert } from "../../federation/pki.ts";
import type { Identity } from "./store.ts";

/** Certificate expiry for the edge's /api/v1/health: own certificate and pinned CAs. */
export function identityStatus(id: Identity, now: number, warnDays = EXPIRY_WARNING_DAYS): CertStatus[] {
  return [certStatus("site", parseCert(id.certPem), now, warnDays), ...parseBundle(id.caPem).map((c) => certStatus("ca", c, now, warnDays))];
}
