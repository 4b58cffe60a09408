/**
 * SOAP 1.2 for ONVIF devices (camsim's simulated cameras and central's ONVIF bridge): a
 * hardened envelope reader, envelope and fault builders, and the small field readers ONVIF
 * requests need. The reader never expands anything: a DTD, an entity declaration or an
 * unknown entity reference is refused (no XXE, no billion laughs), as are NUL and other
 * characters XML 1.0 forbids, over-deep nesting and over-large bodies — each with a clear
 * Sender fault instead of a crash.
 */

export const NS =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:wsa="http://www.w3.org/2005/08/addressing" ' +
  'xmlns:tt="http://www.onvif.org/ver10/schema" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" ' +
  'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" ' +
  'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" ' +
  'xmlns:trc="http://www.onvif.org/ver10/recording/wsdl" ' +
  'xmlns:tse="http://www.onvif.org/ver10/search/wsdl" ' +
  'xmlns:trp="http://www.onvif.org/ver10/replay/wsdl" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" ' +
  'xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" ' +
  'xmlns:tns1="http://www.onvif.org/ver10/topics" ' +
  'xmlns:ter="http://www.onvif.org/ver10/error"';

/** Largest SOAP request accepted (ONVIF requests are a few KiB). */
export const MAX_REQUEST_BYTES = 256 * 1024;
/** Deepest element nesting accepted (real requests stay under 12). */
export const MAX_DEPTH = 64;

export function envelope(body: string, header = ""): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope ${NS}><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

export function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Undoes the five predefined entities and character references (the reader already refused any other). */
export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e[0] !== "#") return ENTITIES[e]!;
    const cp = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : "\ufffd";
  });
}

export type FaultCode = "Sender" | "Receiver";

/** A SOAP fault to answer with: ONVIF subcode (ter:…), reason, HTTP status. */
export class SoapFault extends Error {
  constructor(
    readonly code: FaultCode,
    readonly subcode: string,
    reason: string,
    readonly status?: number,
  ) {
    super(reason);
  }
  response(headers: Record<string, string> = {}): Response {
    return faultResponse(this.code, this.subcode, this.message, this.status, headers);
  }
}

/** A SOAP fault response; Sender faults are HTTP 400, Receiver faults 500 (SOAP 1.2 HTTP binding). */
export function faultResponse(code: FaultCode, subcode: string, reason: string, status?: number, headers: Record<string, string> = {}): Response {
  const body =
    `<s:Fault><s:Code><s:Value>s:${code}</s:Value><s:Subcode><s:Value>${xmlEscape(subcode)}</s:Value></s:Subcode></s:Code>` +
    `<s:Reason><s:Text xml:lang="en">${xmlEscape(reason)}</s:Text></s:Reason></s:Fault>`;
  return soapResponse(envelope(body), status ?? (code === "Sender" ? 400 : 500), headers);
}

export function soapResponse(xml: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(xml, { status, headers: { "content-type": "application/soap+xml; charset=utf-8", ...headers } });
}

export interface SoapRequest {
  /** Local name of the first element inside Body: the operation. */
  op: string;
  /** The whole (checked) request text, for the field readers below. */
  xml: string;
  /** The Header element's content ('' when absent). */
  header: string;
  /** The Body element's content. */
  body: string;
}

// XML 1.0 Char: tab, LF, CR and U+0020 upwards, minus surrogates handled by JS strings, U+FFFE/U+FFFF.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;
const NAME = "[A-Za-z_][\\w.-]*";

/**
 * Checks a request and finds its operation; throws SoapFault (Sender, ter:InvalidArgVal or
 * ter:WellFormed) for anything it will not read. Linear in the input; nothing is expanded.
 */
export function parseSoap(raw: string, o: { maxBytes?: number; maxDepth?: number } = {}): SoapRequest {
  const maxBytes = o.maxBytes ?? MAX_REQUEST_BYTES;
  const maxDepth = o.maxDepth ?? MAX_DEPTH;
  const bad = (why: string) => new SoapFault("Sender", "ter:WellFormed", why);
  if (raw.length > maxBytes) throw new SoapFault("Sender", "ter:InvalidArgVal", `SOAP request larger than ${maxBytes} bytes`, 413);
  if (FORBIDDEN_CHARS.test(raw)) throw bad("SOAP request contains characters XML forbids (NUL or another control character)");
  if (/<!DOCTYPE|<!ENTITY/i.test(raw)) throw bad("DTDs and entity declarations are not accepted in SOAP requests");
  const entity = /&(?!(?:#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|amp|lt|gt|quot|apos);)/.exec(raw);
  if (entity) throw bad("SOAP request uses an undeclared entity or a bare '&'");
  // One pass over the markup: nesting depth and balance, skipping comments, CDATA and PIs.
  const tag = new RegExp(`<(?:!--[\\s\\S]*?-->|!\\[CDATA\\[[\\s\\S]*?\\]\\]>|\\?[\\s\\S]*?\\?>|(/?)(${NAME}(?::${NAME})?)((?:\\s+[^<>]*?)?)(/?)>|)`, "g");
  const stack: string[] = [];
  let rootSeen = false;
  for (let m = tag.exec(raw); m; m = tag.exec(raw)) {
    if (m[0] === "<") throw bad(`malformed markup at offset ${m.index}`);
    const name = m[2];
    if (!name) continue;
    if (m[1]) {
      if (stack.pop() !== name) throw bad(`closing tag </${name}> does not match`);
      continue;
    }
    if (!rootSeen) rootSeen = true;
    else if (stack.length === 0) throw bad("more than one root element");
    if (m[4]) continue;
    stack.push(name);
    if (stack.length > maxDepth) throw bad(`elements nested deeper than ${maxDepth}`);
  }
  if (stack.length) throw bad(`element <${stack[stack.length - 1]}> is not closed`);
  const env = new RegExp(`^\\s*(?:<\\?xml[^>]*\\?>\\s*)?(?:<!--[\\s\\S]*?-->\\s*)*<(?:(${NAME}):)?Envelope\\b`).exec(raw);
  if (!env) throw new SoapFault("Sender", "ter:InvalidArgVal", "not a SOAP envelope");
  const p = env[1] ? `${env[1]}:` : "";
  const body = new RegExp(`<${p}Body\\b[^>]*?(?:/>|>([\\s\\S]*)</${p}Body\\s*>)`).exec(raw);
  if (!body) throw new SoapFault("Sender", "ter:InvalidArgVal", "SOAP envelope has no Body");
  const header = new RegExp(`<${p}Header\\b[^>]*?(?:/>|>([\\s\\S]*?)</${p}Header\\s*>)`).exec(raw);
  const op = new RegExp(`^\\s*(?:<!--[\\s\\S]*?-->\\s*)*<(?:${NAME}:)?(${NAME})`).exec(body[1] ?? "");
  if (!op) throw new SoapFault("Sender", "ter:InvalidArgVal", "No SOAP body operation found");
  return { op: op[1]!, xml: raw, header: header?.[1] ?? "", body: body[1] ?? "" };
}

/** Local name of the first element inside s:Body: the operation (lenient; parseSoap checks). */
export function operation(xml: string): string | undefined {
  const m = /<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)/.exec(xml);
  return m?.[1];
}

/** Text of the first element with this local name (any prefix), entities undone. */
export function text(xml: string, local: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${local}\\b[^>]*>([^<]*)</(?:[\\w.-]+:)?${local}>`).exec(xml);
  return m?.[1] === undefined ? undefined : xmlUnescape(m[1]).trim();
}

/** Texts of every element with this local name. */
export function texts(xml: string, local: string): string[] {
  return [...xml.matchAll(new RegExp(`<(?:[\\w.-]+:)?${local}\\b[^>]*>([^<]*)</(?:[\\w.-]+:)?${local}>`, "g"))].map((m) => xmlUnescape(m[1]!).trim());
}

/** ISO 8601 duration (PnDTnHnMnS) or absolute dateTime → milliseconds from now. */
export function parseTermination(value: string | undefined, now: number, fallbackMs: number): number {
  if (!value) return fallbackMs;
  const d = parseDuration(value);
  if (d !== undefined) return d;
  const t = Date.parse(value);
  return Number.isNaN(t) ? fallbackMs : Math.max(0, t - now);
}

/** ISO 8601 duration (PnDTnHnMnS) in milliseconds, or undefined. */
export function parseDuration(value: string): number | undefined {
  const d = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(value);
  if (!d || value === "P" || value === "PT") return undefined;
  const [, days, h, m, s] = d;
  return ((Number(days ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60000 + Number(s ?? 0) * 1000;
}

/** Reads a request body up to maxBytes; throws SoapFault (413) beyond it without buffering the rest. */
export async function readBody(req: Request, maxBytes = MAX_REQUEST_BYTES): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new SoapFault("Sender", "ter:InvalidArgVal", `SOAP request larger than ${maxBytes} bytes`, 413);
  if (!req.body) return "";
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new SoapFault("Sender", "ter:InvalidArgVal", `SOAP request larger than ${maxBytes} bytes`, 413);
    }
    parts.push(value);
  }
  return new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(parts));
}
