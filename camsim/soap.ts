/**
 * Just enough SOAP 1.2 for a simulated ONVIF device: envelopes, faults, a tolerant reader for
 * the few request fields we need, and the two credential schemes ONVIF clients use
 * (WS-Security UsernameToken with PasswordDigest, and HTTP digest).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const NS =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:wsa="http://www.w3.org/2005/08/addressing" ' +
  'xmlns:tt="http://www.onvif.org/ver10/schema" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" ' +
  'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" ' +
  'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" ' +
  'xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" ' +
  'xmlns:tns1="http://www.onvif.org/ver10/topics" ' +
  'xmlns:ter="http://www.onvif.org/ver10/error"';

export function envelope(body: string, header = ""): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope ${NS}><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

export function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A SOAP fault response; Sender faults are HTTP 400, Receiver faults 500 (SOAP 1.2 HTTP binding). */
export function faultResponse(code: "Sender" | "Receiver", subcode: string, reason: string, status?: number, headers: Record<string, string> = {}): Response {
  const body =
    `<s:Fault><s:Code><s:Value>s:${code}</s:Value><s:Subcode><s:Value>${subcode}</s:Value></s:Subcode></s:Code>` +
    `<s:Reason><s:Text xml:lang="en">${xmlEscape(reason)}</s:Text></s:Reason></s:Fault>`;
  return soapResponse(envelope(body), status ?? (code === "Sender" ? 400 : 500), headers);
}

export function soapResponse(xml: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(xml, { status, headers: { "content-type": "application/soap+xml; charset=utf-8", ...headers } });
}

/** Local name of the first element inside s:Body: the operation. */
export function operation(xml: string): string | undefined {
  const m = /<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)/.exec(xml);
  return m?.[1];
}

/** Text of the first element with this local name (any prefix). */
export function text(xml: string, local: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${local}\\b[^>]*>([^<]*)</(?:[\\w.-]+:)?${local}>`).exec(xml);
  return m?.[1]?.trim();
}

/** ISO 8601 duration (PnDTnHnMnS) or absolute dateTime → milliseconds from now. */
export function parseTermination(value: string | undefined, now: number, fallbackMs: number): number {
  if (!value) return fallbackMs;
  const d = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(value);
  if (d && value !== "P" && value !== "PT") {
    const [, days, h, m, s] = d;
    return ((Number(days ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60000 + Number(s ?? 0) * 1000;
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? fallbackMs : Math.max(0, t - now);
}

export type Check = "absent" | "ok" | "bad";

/** Verifies a WS-Security UsernameToken (PasswordDigest or PasswordText) against user/password. */
export class WsSecurity {
  private seen = new Map<string, number>();
  constructor(
    private user: string,
    private password: string,
    private maxSkewMs = 5 * 60_000,
  ) {}

  check(xml: string, now: number): Check {
    if (!/<(?:[\w.-]+:)?UsernameToken\b/.test(xml)) return "absent";
    const username = text(xml, "Username");
    const pw = /<(?:[\w.-]+:)?Password\b([^>]*)>([^<]*)</.exec(xml);
    if (username === undefined || !pw) return "bad";
    if (username !== this.user) return "bad";
    const isDigest = /PasswordDigest/.test(pw[1] ?? "");
    const given = (pw[2] ?? "").trim();
    if (!isDigest) return safeEqual(given, this.password) ? "ok" : "bad";
    const nonce = text(xml, "Nonce");
    const created = text(xml, "Created");
    if (!nonce || !created) return "bad";
    const createdMs = Date.parse(created);
    if (Number.isNaN(createdMs) || Math.abs(now - createdMs) > this.maxSkewMs) return "bad";
    const expect = createHash("sha1")
      .update(Buffer.concat([Buffer.from(nonce, "base64"), Buffer.from(created, "utf8"), Buffer.from(this.password, "utf8")]))
      .digest("base64");
    if (!safeEqual(given, expect)) return "bad";
    // A replayed token is refused, as on real devices with replay protection.
    this.prune(now);
    if (this.seen.has(nonce)) return "bad";
    this.seen.set(nonce, now);
    return "ok";
  }

  private prune(now: number): void {
    if (this.seen.size < 1000) return;
    for (const [n, t] of this.seen) if (now - t > 2 * this.maxSkewMs) this.seen.delete(n);
  }
}

/** HTTP digest (RFC 2617/7616, MD5, qop=auth) with stateless HMAC nonces; basic is accepted too. */
export class HttpAuth {
  private secret = randomBytes(16);
  constructor(
    private user: string,
    private password: string,
    readonly realm = "camsim",
    private nonceTtlMs = 5 * 60_000,
  ) {}

  challenge(now: number): string {
    const ts = now.toString(16);
    const nonce = `${ts}.${createHmac("sha256", this.secret).update(ts).digest("hex").slice(0, 32)}`;
    return `Digest realm="${this.realm}", qop="auth", nonce="${nonce}", algorithm=MD5`;
  }

  check(method: string, authorization: string | null, now: number): Check {
    if (!authorization) return "absent";
    if (/^Basic /i.test(authorization)) {
      const [u, ...rest] = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8").split(":");
      return u === this.user && safeEqual(rest.join(":"), this.password) ? "ok" : "bad";
    }
    if (!/^Digest /i.test(authorization)) return "bad";
    const p = parseAuthParams(authorization.slice(7));
    if (p.username !== this.user || p.realm !== this.realm || !p.nonce || !p.uri || !p.response) return "bad";
    const [ts, mac] = p.nonce.split(".");
    if (!ts || !mac || createHmac("sha256", this.secret).update(ts).digest("hex").slice(0, 32) !== mac) return "bad";
    if (now - parseInt(ts, 16) > this.nonceTtlMs) return "bad";
    const md5 = (s: string) => createHash("md5").update(s).digest("hex");
    const ha1 = md5(`${this.user}:${this.realm}:${this.password}`);
    const ha2 = md5(`${method}:${p.uri}`);
    const expect = p.qop ? md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : md5(`${ha1}:${p.nonce}:${ha2}`);
    return safeEqual(p.response, expect) ? "ok" : "bad";
  }
}

function parseAuthParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^\s,]*))/g)) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? "";
  return out;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
