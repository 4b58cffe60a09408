/**
 * PKI for federation trust: the central CA, the central server certificate, edge client
 * certificates, CSRs and PEM helpers. ECDSA P-256 everywhere, SHA-256 signatures.
 * Pure functions over WebCrypto keys and PEM strings: storage and policy live in central/ and
 * edge/identity/, so this file never touches disk or the network.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { siteUri, SITE_URI_PREFIX } from "./identity.ts";

x509.cryptoProvider.set(crypto);

const EC: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGN: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
/** Issued certificates start a little in the past so a peer whose clock lags still accepts them. */
export const BACKDATE_MS = 5 * 60_000;
export const DAY_MS = 86_400_000;

export interface KeyPairPem {
  keyPem: string;
  publicKeyPem: string;
  keys: CryptoKeyPair;
}

export async function generateKeyPair(): Promise<KeyPairPem> {
  const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  return { keys, keyPem: await exportKeyPem(keys.privateKey), publicKeyPem: await exportPublicPem(keys.publicKey) };
}

export async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function exportPublicPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("spki", key);
  return x509.PemConverter.encode(der, "PUBLIC KEY");
}

/** Import a PKCS#8 P-256 private key (as written by exportKeyPem) for signing. */
export async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return crypto.subtle.importKey("pkcs8", der, EC, false, ["sign"]);
}

export function parseCert(pem: string | ArrayBuffer | Uint8Array): x509.X509Certificate {
  if (typeof pem === "string") return new x509.X509Certificate(pem);
  return new x509.X509Certificate(pem instanceof Uint8Array ? new Uint8Array(pem) : pem);
}

/** All certificates of a PEM bundle, in order. */
export function parseBundle(pem: string): x509.X509Certificate[] {
  return x509.PemConverter.decode(pem).map((der) => new x509.X509Certificate(der));
}

export { normSerial } from "./serial.ts";

/** 16 random bytes, top bit clear so the DER INTEGER stays positive. */
function randomSerial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString("hex");
}

/** SHA-256 over the certificate DER, lower-case hex: what an enrollment token pins. */
export async function certFingerprint(cert: x509.X509Certificate | string): Promise<string> {
  const c = typeof cert === "string" ? parseCert(cert) : cert;
  return Buffer.from(await crypto.subtle.digest("SHA-256", c.rawData)).toString("hex");
}

export interface CaMaterial {
  cert: x509.X509Certificate;
  certPem: string;
  key: CryptoKey;
}

export async function createCa(opts: { name: string; now: number; lifetimeDays: number }): Promise<CaMaterial & { keyPem: string }> {
  const kp = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${escapeDn(opts.name)}, O=Outpost`,
    notBefore: new Date(opts.now - BACKDATE_MS),
    notAfter: new Date(opts.now + opts.lifetimeDays * DAY_MS),
    signingAlgorithm: SIGN,
    keys: kp.keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(kp.keys.publicKey),
    ],
  });
  return { cert, certPem: cert.toString("pem"), key: kp.keys.privateKey, keyPem: kp.keyPem };
}

export async function loadCa(certPem: string, keyPem: string): Promise<CaMaterial> {
  return { cert: parseCert(certPem), certPem, key: await importKeyPem(keyPem) };
}

interface IssueCommon {
  ca: CaMaterial;
  publicKey: CryptoKey | x509.PublicKey;
  now: number;
  lifetimeDays: number;
  /** Override notBefore/notAfter directly (tests make expired and not-yet-valid certificates). */
  notBefore?: number;
  notAfter?: number;
}

async function issue(p: IssueCommon, subject: string, extensions: x509.Extension[]): Promise<x509.X509Certificate> {
  const notBefore = p.notBefore ?? p.now - BACKDATE_MS;
  let notAfter = p.notAfter ?? p.now + p.lifetimeDays * DAY_MS;
  // A leaf never outlives its CA: a verifier would reject the chain anyway.
  if (p.notAfter === undefined) notAfter = Math.min(notAfter, p.ca.cert.notAfter.getTime());
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: p.ca.cert.subject,
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    signingAlgorithm: SIGN,
    publicKey: p.publicKey,
    signingKey: p.ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      await x509.AuthorityKeyIdentifierExtension.create(p.ca.cert, false),
      await x509.SubjectKeyIdentifierExtension.create(p.publicKey),
      ...extensions,
    ],
  });
}

/** The central server certificate: serverAuth only, SANs (DNS names and IPs) from config. */
export async function issueServerCert(p: IssueCommon & { names: string[] }): Promise<x509.X509Certificate> {
  return issue(p, serverSubject(p.names), serverExtensions(p.names));
}

/**
 * A self-signed server certificate (the edge's local API before any PKI is involved): the
 * certificate is its own trust anchor, so clients pin or import exactly this certificate.
 */
export async function selfSignedServerCert(o: { names: string[]; now: number; lifetimeDays: number; keys: CryptoKeyPair }): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: serverSubject(o.names),
    notBefore: new Date(o.now - BACKDATE_MS),
    notAfter: new Date(o.now + o.lifetimeDays * DAY_MS),
    signingAlgorithm: SIGN,
    keys: o.keys,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), await x509.SubjectKeyIdentifierExtension.create(o.keys.publicKey), ...serverExtensions(o.names)],
  });
}

/** DNS names and IP addresses in a server certificate's SAN extension. */
export function serverNamesOf(cert: x509.X509Certificate): string[] {
  return cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value) ?? [];
}

function serverSubject(names: string[]): string {
  if (names.length === 0) throw new Error("a server certificate needs at least one name");
  return `CN=${escapeDn(names[0]!)}, O=Outpost`;
}

function serverExtensions(names: string[]): x509.Extension[] {
  const san = names.map((n) => (isIp(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n }));
  return [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    new x509.SubjectAlternativeNameExtension(san, false),
  ];
}

/**
 * An edge client certificate: CN = site id, SAN URI urn:outpost:site:<id>, clientAuth only.
 * `eku` exists so tests can mint a serverAuth-only certificate for the negative matrix.
 */
export async function issueSiteCert(p: IssueCommon & { siteId: string; eku?: "clientAuth" | "serverAuth" }): Promise<x509.X509Certificate> {
  const eku = p.eku === "serverAuth" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
  return issue(p, `CN=${p.siteId}, O=Outpost`, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([eku], false),
    new x509.SubjectAlternativeNameExtension([{ type: "url", value: siteUri(p.siteId) }], false),
  ]);
}

/** SAN URI prefix of a central node's certificate (central/live/relay: node-to-node mTLS). */
export const NODE_URI_PREFIX = "urn:outpost:node:";

/**
 * A central node's certificate for the nodes' internal listener: CN = node id, SAN URI
 * urn:outpost:node:<id>, serverAuth + clientAuth (a node serves relays and opens them). No
 * site certificate carries this URI, so an edge cannot pass for a node.
 */
export async function issueNodeCert(p: IssueCommon & { nodeId: string }): Promise<x509.X509Certificate> {
  return issue(p, `CN=${escapeDn(p.nodeId)}, O=Outpost`, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
    new x509.SubjectAlternativeNameExtension([{ type: "url", value: NODE_URI_PREFIX + p.nodeId }], false),
  ]);
}

/** Node id from a parsed certificate's SAN URI, cross-checked with the CN; null for anything else (sites, central's MQTT client). */
export function nodeIdOfCert(cert: x509.X509Certificate): string | null {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uri = san?.names.items.find((n) => n.type === "url" && n.value.startsWith(NODE_URI_PREFIX));
  if (!uri) return null;
  const id = uri.value.slice(NODE_URI_PREFIX.length);
  return cert.subjectName.getField("CN")[0] === id ? id : null;
}

export async function createCsr(keys: CryptoKeyPair, siteId: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${siteId}`,
    keys,
    signingAlgorithm: SIGN,
  });
  return csr.toString("pem");
}

/**
 * Parse and check a CSR: its self-signature must verify (proof the caller holds the key) and
 * the key must be P-256. Returns the public key to certify; the subject in the CSR is ignored
 * because central decides the site id.
 */
export async function verifyCsr(pem: string): Promise<x509.PublicKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (e) {
    throw new Error(`not a PKCS#10 certificate request: ${(e as Error).message}`);
  }
  if (!(await csr.verify())) throw new Error("the certificate request signature does not verify");
  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256") throw new Error("the certificate request key must be ECDSA P-256");
  return csr.publicKey;
}

/** Site id from a parsed certificate: the SAN URI, cross-checked with the CN. null if absent or inconsistent. */
export function siteIdOfCert(cert: x509.X509Certificate): string | null {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uri = san?.names.items.find((n) => n.type === "url" && n.value.startsWith(SITE_URI_PREFIX));
  if (!uri) return null;
  const id = uri.value.slice(SITE_URI_PREFIX.length);
  const cn = cert.subjectName.getField("CN")[0];
  return cn === id ? id : null;
}

/** Verify that `cert` was signed by one of `cas` and is inside its validity window at `now`. */
export async function verifyIssuedBy(cert: x509.X509Certificate, cas: x509.X509Certificate[], now: number): Promise<boolean> {
  if (cert.notBefore.getTime() > now || cert.notAfter.getTime() < now) return false;
  for (const ca of cas) {
    if (cert.issuer !== ca.subject) continue;
    if (await cert.verify({ publicKey: ca.publicKey, signatureOnly: true })) return true;
  }
  return false;
}

function isIp(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || s.includes(":");
}

function escapeDn(s: string): string {
  return s.replace(/([,+"\\<>;=])/g, "\\$1");
}
