/**
 * RTSP 1.0 messages (RFC 2326 §6–7): the head (start line + headers, case-insensitive names),
 * Content-Length bodies, and serialising requests and responses. Serialising refuses CR, LF and
 * NUL in any name, value, method or URI, so a value taken from a camera, a URL or a user can
 * never add a header or end the head early (header injection).
 */

/** Statuses this project sends, with RFC 2326's reason phrases. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  453: "Not Enough Bandwidth",
  454: "Session Not Found",
  455: "Method Not Valid in This State",
  457: "Invalid Range",
  459: "Aggregate Operation Not Allowed",
  461: "Unsupported Transport",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

/** Header fields by case-insensitive name, in arrival order (a name may repeat, e.g. WWW-Authenticate). */
export class RtspHeaders {
  private readonly map = new Map<string, string[]>();
  constructor(entries: Iterable<readonly [string, string]> = []) {
    for (const [k, v] of entries) this.add(k, v);
  }
  add(name: string, value: string): void {
    const k = name.toLowerCase();
    const list = this.map.get(k);
    if (list) list.push(value);
    else this.map.set(k, [value]);
  }
  /** The last value of `name` (a repeated single-valued header: the later one wins). */
  get(name: string): string | undefined {
    const list = this.map.get(name.toLowerCase());
    return list?.[list.length - 1];
  }
  all(name: string): string[] {
    return this.map.get(name.toLowerCase()) ?? [];
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
}

/** A message as read off the wire. `lines` is the head exactly as received (for a relay that forwards it). */
export interface RtspMessage {
  startLine: string;
  lines: string[];
  headers: RtspHeaders;
  body: Uint8Array;
}

export interface RtspRequestLine {
  method: string;
  uri: string;
  /** "1.0" in practice. */
  version: string;
}

export interface RtspStatusLine {
  status: number;
  reason: string;
}

export class RtspFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RtspFormatError";
  }
}

/** Head text (without the blank line) → start line, raw lines and headers. Lines without a colon are skipped. */
export function parseHead(head: string): { startLine: string; lines: string[]; headers: RtspHeaders } {
  const lines = head.split("\r\n");
  const headers = new RtspHeaders();
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    const c = l.indexOf(":");
    if (c <= 0) continue;
    const name = l.slice(0, c).trim();
    if (name) headers.add(name, l.slice(c + 1).trim());
  }
  return { startLine: lines[0] ?? "", lines, headers };
}

/** Content-Length as a byte count: 0 when absent, null when not a plain decimal or above `max`. */
export function contentLength(headers: RtspHeaders, max: number): number | null {
  const v = headers.get("content-length");
  if (v === undefined) return 0;
  if (!/^\d{1,15}$/.test(v)) return null;
  const n = Number(v);
  return n <= max ? n : null;
}

export function parseRequestLine(line: string): RtspRequestLine | null {
  const m = /^([A-Z_]+) (\S+) RTSP\/(1\.\d)$/.exec(line);
  return m ? { method: m[1]!, uri: m[2]!, version: m[3]! } : null;
}

export function parseStatusLine(line: string): RtspStatusLine | null {
  const m = /^RTSP\/1\.\d\s+(\d{3})(?:\s+(.*))?$/.exec(line);
  return m ? { status: Number(m[1]), reason: m[2] ?? "" } : null;
}

export type HeaderList = Iterable<readonly [string, string]>;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// CR, LF and NUL end or corrupt the head; other control characters are refused too.
const SAFE_VALUE = /^[^\x00-\x08\x0a-\x1f\x7f]*$/;

function headerLines(headers: HeaderList, body: string | Uint8Array | undefined): string[] {
  const out: string[] = [];
  for (const [k, v] of headers) {
    if (!TOKEN.test(k)) throw new RtspFormatError(`RTSP header name ${JSON.stringify(k)} is not a token`);
    if (!SAFE_VALUE.test(v)) throw new RtspFormatError(`RTSP header ${k} has a control character (CR, LF or NUL) in its value`);
    if (k.toLowerCase() === "content-length") continue; // set from the body below
    out.push(`${k}: ${v}`);
  }
  const n = body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.length;
  if (n) out.push(`Content-Length: ${n}`);
  return out;
}

function withBody(head: string, body: string | Uint8Array | undefined): Buffer {
  if (body === undefined || body.length === 0) return Buffer.from(head, "utf8");
  return typeof body === "string" ? Buffer.from(head + body, "utf8") : Buffer.concat([Buffer.from(head, "utf8"), body]);
}

/** A request's bytes; throws RtspFormatError on a control character or space where it would break the message. */
export function formatRequest(method: string, uri: string, headers: HeaderList, body?: string | Uint8Array): Buffer {
  if (!/^[A-Z_]+$/.test(method)) throw new RtspFormatError(`RTSP method ${JSON.stringify(method)} is not a token`);
  if (!/^[^\x00-\x20\x7f]+$/.test(uri)) throw new RtspFormatError(`RTSP request URI ${JSON.stringify(uri)} has a space or control character`);
  return withBody([`${method} ${uri} RTSP/1.0`, ...headerLines(headers, body)].join("\r\n") + "\r\n\r\n", body);
}

/** A response's bytes (reason phrase from STATUS_TEXT); throws RtspFormatError like formatRequest. */
export function formatResponse(status: number, headers: HeaderList, body?: string | Uint8Array): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new RtspFormatError(`RTSP status ${status} is not three digits`);
  return withBody([`RTSP/1.0 ${status} ${STATUS_TEXT[status] ?? "Error"}`, ...headerLines(headers, body)].join("\r\n") + "\r\n\r\n", body);
}
