/**
 * Who is on the other end of a TLS connection, decided only from the verified peer
 * certificate — never from a header, path, body or MQTT field — plus the live-session table
 * that revocation and rotation use to cut sessions off.
 */
import type { TLSSocket } from "node:tls";
import "reflect-metadata"; // before @peculiar/x509 (tsyringe needs the polyfill loaded first)
import * as x509 from "@peculiar/x509";
import { parseCert, siteIdOfCert, normSerial } from "../federation/pki.ts";
import type { Registry } from "./registry.ts";

export interface PeerIdentity {
  siteId: string;
  serial: string;
  notAfter: number;
  /** "pending" while the edge has not yet confirmed a renewed certificate. */
  role: "current" | "pending";
}

export type PeerCheck = { ok: true; peer: PeerIdentity } | { ok: false; reason: string };

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/**
 * Checks on top of the TLS library's chain verification, so a misconfigured or regressed TLS
 * stack (e.g. NODE_TLS_REJECT_UNAUTHORIZED=0 leaking into server checks) still cannot let an
 * unverified client through: socket.authorized, issuer, validity, clientAuth EKU, site id in
 * SAN URI and CN, and the serial being the site's current or pending certificate.
 */
export function checkPeer(socket: TLSSocket, registry: Registry, trustedSubjects: Set<string>, now: number): PeerCheck {
  if (!socket.authorized) return { ok: false, reason: `client certificate not verified: ${String(socket.authorizationError ?? "none presented")}` };
  const raw = socket.getPeerCertificate(false)?.raw;
  if (!raw || raw.length === 0) return { ok: false, reason: "no client certificate" };
  let cert: x509.X509Certificate;
  try {
    cert = parseCert(new Uint8Array(raw));
  } catch {
    return { ok: false, reason: "unparseable client certificate" };
  }
  if (!trustedSubjects.has(cert.issuer)) return { ok: false, reason: "certificate not issued by this central's CA" };
  if (cert.notBefore.getTime() > now + 60_000 || cert.notAfter.getTime() <= now) return { ok: false, reason: "certificate outside its validity period" };
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.map(String).includes(CLIENT_AUTH)) return { ok: false, reason: "certificate is not for client authentication" };
  const siteId = siteIdOfCert(cert);
  if (!siteId) return { ok: false, reason: "certificate names no site" };
  const serial = normSerial(cert.serialNumber);
  const role = registry.accepts(siteId, serial);
  if (!role) {
    const s = registry.get(siteId);
    return { ok: false, reason: s?.state === "revoked" ? `site ${siteId} is revoked` : s ? "certificate superseded by a newer one" : `unknown site ${siteId}` };
  }
  return { ok: true, peer: { siteId, serial, notAfter: cert.notAfter.getTime(), role } };
}

interface Session {
  kind: "https" | "mqtt";
  peer: PeerIdentity;
  close(): void;
}

/** Open sessions per site, so revocation, rotation and expiry can close them. */
export class SessionTable {
  private readonly bySite = new Map<string, Set<Session>>();

  add(kind: Session["kind"], peer: PeerIdentity, close: () => void): () => void {
    const s: Session = { kind, peer, close };
    let set = this.bySite.get(peer.siteId);
    if (!set) this.bySite.set(peer.siteId, (set = new Set()));
    set.add(s);
    return () => {
      set!.delete(s);
      if (set!.size === 0 && this.bySite.get(peer.siteId) === set) this.bySite.delete(peer.siteId);
    };
  }

  count(siteId?: string, kind?: Session["kind"]): number {
    const sets = siteId ? [this.bySite.get(siteId) ?? new Set<Session>()] : [...this.bySite.values()];
    let n = 0;
    for (const set of sets) for (const s of set) if (!kind || s.kind === kind) n++;
    return n;
  }

  /** Close every session of the site for which `which` is true; returns how many. */
  closeWhere(siteId: string, which: (p: PeerIdentity) => boolean = () => true): number {
    const set = this.bySite.get(siteId);
    if (!set) return 0;
    let n = 0;
    for (const s of [...set]) {
      if (which(s.peer)) {
        s.close();
        set.delete(s);
        n++;
      }
    }
    return n;
  }

  /** Close sessions whose certificate has expired since they connected. */
  closeExpired(now: number): number {
    let n = 0;
    for (const siteId of [...this.bySite.keys()]) n += this.closeWhere(siteId, (p) => p.notAfter <= now);
    return n;
  }
}
