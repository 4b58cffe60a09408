import { expect, test } from "bun:test";
import { createCa, createCsr, generateKeyPair, issueSiteCert, issueServerCert, siteIdOfCert, verifyCsr, verifyIssuedBy, certFingerprint, normSerial } from "./pki.ts";
import { formatToken, newTokenParts, parseToken, certStatus } from "./enrollment.ts";
import { isSiteId, newSiteId, siteTopicRoot, topicBelongsToSite, TOPIC_ROOT } from "./identity.ts";

test("site certificate: CN and SAN URI name the site, chains to the CA", async () => {
  const now = Date.now();
  const ca = await createCa({ name: "T", now, lifetimeDays: 10 });
  const kp = await generateKeyPair();
  const c = await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now, lifetimeDays: 90, siteId: "bus-1" });
  expect(siteIdOfCert(c)).toBe("bus-1");
  expect(c.notAfter.getTime()).toBeLessThanOrEqual(ca.cert.notAfter.getTime()); // clipped to the CA
  expect(await verifyIssuedBy(c, [ca.cert], now)).toBe(true);
  const other = await createCa({ name: "T", now, lifetimeDays: 10 });
  expect(await verifyIssuedBy(c, [other.cert], now)).toBe(false);
  const srv = await issueServerCert({ ca, publicKey: kp.keys.publicKey, now, lifetimeDays: 5, names: ["localhost", "127.0.0.1"] });
  expect(siteIdOfCert(srv)).toBeNull();
  expect((await certFingerprint(ca.cert)).length).toBe(64);
  expect(normSerial("00AB")).toBe("ab");
});

test("CSR: valid verifies; tampered or garbage refused", async () => {
  const kp = await generateKeyPair();
  const csr = await createCsr(kp.keys, "x");
  await verifyCsr(csr);
  const body = csr.split("\n").slice(1, -2).join("");
  const der = Buffer.from(body, "base64");
  der[der.length - 5]! ^= 0xff; // flip a signature byte
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----`;
  await expect(verifyCsr(bad)).rejects.toThrow();
  await expect(verifyCsr("hello")).rejects.toThrow(/PKCS#10/);
});

test("token format round-trips and rejects damage", () => {
  const p = newTokenParts("ab".repeat(32));
  const t = formatToken(p);
  expect(parseToken(t)).toEqual(p);
  expect(() => parseToken(t.slice(0, -3))).toThrow(/damaged/);
  expect(() => parseToken("abc")).toThrow(/not an Outpost enrollment token/);
});

test("topics: a site stays in its subtree", () => {
  expect(TOPIC_ROOT).toBe("outpost/v1/sites");
  expect(topicBelongsToSite(`${siteTopicRoot("a")}/status`, "a")).toBe(true);
  expect(topicBelongsToSite(`${siteTopicRoot("a")}/#`, "a")).toBe(true);
  expect(topicBelongsToSite(`${siteTopicRoot("ab")}/x`, "a")).toBe(false);
  expect(topicBelongsToSite("outpost/v1/sites/+/x", "a")).toBe(false);
  expect(topicBelongsToSite("#", "a")).toBe(false);
  expect(isSiteId(newSiteId("Bus Nr. 12 / Ö"))).toBe(true);
});

test("certStatus warns inside the window", () => {
  const now = Date.UTC(2026, 0, 1);
  const mk = (days: number) => ({ subject: "CN=x", serialNumber: "AB", notBefore: new Date(now), notAfter: new Date(now + days * 86_400_000) });
  expect(certStatus("site", mk(15), now).warning).toBe(false);
  expect(certStatus("site", mk(14), now).warning).toBe(true);
  expect(certStatus("site", mk(-1), now).warning).toBe(true);
});
