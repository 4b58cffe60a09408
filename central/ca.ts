/**
 * Central's CA on disk: created on first start (key 0600, never logged or served), loaded
 * afterwards. Also keeps central's server certificate current: reissued when the configured
 * names change or a third of its lifetime remains. bundle.pem is what edges pin; during a CA
 * rotation it holds old + new (docs/design/trust.md).
 */
import { promises as fs } from "node:fs";
import { createCa, loadCa, generateKeyPair, issueServerCert, parseCert, parseBundle, certFingerprint, DAY_MS, type CaMaterial } from "../federation/pki.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log/index.ts";
import type { CentralConfig } from "./config.ts";
import { dataPaths, exists, writeFileAtomic } from "./files.ts";
import "reflect-metadata"; // before @peculiar/x509 (tsyringe needs the polyfill loaded first)
import * as x509 from "@peculiar/x509";

export interface Pki {
  ca: CaMaterial;
  /** PEM bundle of trusted CA certificates (what edges pin and servers verify clients against). */
  bundlePem: string;
  bundle: x509.X509Certificate[];
  caFingerprint: string;
  serverKeyPem: string;
  serverCertPem: string;
  serverCert: x509.X509Certificate;
}

export async function loadOrCreatePki(cfg: CentralConfig, clock: Clock, log: Logger): Promise<Pki> {
  const p = dataPaths(cfg.dataDir);
  await fs.mkdir(p.caDir, { recursive: true, mode: 0o700 });
  await fs.mkdir(p.serverDir, { recursive: true, mode: 0o700 });
  let ca: CaMaterial;
  if (await exists(p.caKey)) {
    const st = await fs.stat(p.caKey);
    if ((st.mode & 0o077) !== 0) {
      log.warn("CA key file is readable by group/others; tightening to 0600", { file: p.caKey });
      await fs.chmod(p.caKey, 0o600);
    }
    ca = await loadCa(await fs.readFile(p.caCert, "utf8"), await fs.readFile(p.caKey, "utf8"));
  } else {
    const made = await createCa({ name: cfg.name, now: clock.now(), lifetimeDays: cfg.pki.caLifetimeDays });
    // Key first: a crash between the two writes leaves a key without a cert, which is regenerated.
    await writeFileAtomic(p.caKey, made.keyPem);
    await writeFileAtomic(p.caCert, made.certPem);
    await writeFileAtomic(p.caBundle, made.certPem);
    ca = made;
    log.info("created central CA", { subject: made.cert.subject, notAfter: made.cert.notAfter.toISOString() });
  }
  if (!(await exists(p.caBundle))) await writeFileAtomic(p.caBundle, ca.certPem);
  const bundlePem = await fs.readFile(p.caBundle, "utf8");
  const bundle = parseBundle(bundlePem);

  let serverKeyPem = "";
  let serverCertPem = "";
  let serverCert: x509.X509Certificate | null = null;
  if ((await exists(p.serverKey)) && (await exists(p.serverCert))) {
    serverKeyPem = await fs.readFile(p.serverKey, "utf8");
    serverCertPem = await fs.readFile(p.serverCert, "utf8");
    serverCert = parseCert(serverCertPem);
    if (!(await serverCertUsable(serverCert, ca, cfg, clock.now()))) serverCert = null;
  }
  if (!serverCert) {
    const kp = await generateKeyPair();
    serverCert = await issueServerCert({
      ca,
      publicKey: kp.keys.publicKey,
      now: clock.now(),
      lifetimeDays: cfg.pki.serverCertLifetimeDays,
      names: cfg.tls.serverNames,
    });
    serverKeyPem = kp.keyPem;
    serverCertPem = serverCert.toString("pem");
    await writeFileAtomic(p.serverKey, serverKeyPem);
    await writeFileAtomic(p.serverCert, serverCertPem);
    log.info("issued central server certificate", { names: cfg.tls.serverNames, notAfter: serverCert.notAfter.toISOString() });
  }
  return { ca, bundlePem, bundle, caFingerprint: await certFingerprint(ca.cert), serverKeyPem, serverCertPem, serverCert };
}

async function serverCertUsable(cert: x509.X509Certificate, ca: CaMaterial, cfg: CentralConfig, now: number): Promise<boolean> {
  if (cert.issuer !== ca.cert.subject) return false;
  if (!(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }))) return false;
  const life = cert.notAfter.getTime() - cert.notBefore.getTime();
  if (cert.notAfter.getTime() - now < Math.min(life / 3, 30 * DAY_MS)) return false;
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = new Set(san?.names.items.map((n) => n.value) ?? []);
  return cfg.tls.serverNames.every((n) => names.has(n)) && names.size === new Set(cfg.tls.serverNames).size;
}
