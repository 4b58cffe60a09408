/** Property tests of the connection reader and message serialising: however TCP cuts the bytes, whatever a peer sends. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { RtspReader, interleave } from "./framing.ts";
import { RtspFormatError, formatRequest, formatResponse, parseRequestLine, parseStatusLine, type RtspMessage } from "./message.ts";

type Item = { frame: [number, number[]] } | { msg: { start: string; headers: [string, string][]; body: string } };

function readAll(chunks: Uint8Array[], limits?: { maxHead?: number; maxBody?: number }): { items: unknown[]; error?: string } {
  const r = new RtspReader(limits);
  const items: unknown[] = [];
  r.onFrame = (ch, p) => items.push({ frame: [ch, [...p]] });
  r.onMessage = (m: RtspMessage) => items.push({ msg: { start: m.startLine, headers: m.lines.slice(1), body: Buffer.from(m.body).toString("latin1"), cseq: m.headers.get("CSEQ") } });
  for (const c of chunks) {
    const error = r.push(c);
    if (error) return { items, error };
  }
  return { items };
}

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
const value = fc.string({ maxLength: 40 }).map((s) => s.replace(/[\x00-\x1f\x7f]/g, "").trim());
const frame = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 1500 })).map(([ch, p]) => Buffer.from(interleave(ch, p)));
const message = fc
  .tuple(fc.boolean(), fc.integer({ min: 0, max: 1e6 }), fc.array(fc.tuple(token, value), { maxLength: 6 }), fc.string({ maxLength: 300 }))
  .map(([isReq, cseq, headers, body]) =>
    isReq ? formatRequest("DESCRIBE", "rtsp://cam/stream", [["CSeq", String(cseq)], ...headers], body) : formatResponse(200, [["CSeq", String(cseq)], ...headers], body),
  );
const stream = fc.array(fc.oneof(frame, message), { minLength: 1, maxLength: 12 }).map((parts) => Buffer.concat(parts));

describe("RtspReader", () => {
  test("a stream split at every byte boundary parses the same as in one piece", () => {
    fc.assert(
      fc.property(stream, (all) => {
        const whole = readAll([all]);
        expect(whole.error).toBeUndefined();
        for (let cut = 1; cut < all.length; cut += Math.max(1, Math.floor(all.length / 200))) {
          expect(readAll([all.subarray(0, cut), all.subarray(cut)])).toEqual(whole);
        }
        // And one byte per read.
        expect(readAll([...all].map((b) => Uint8Array.of(b)))).toEqual(whole);
      }),
      { numRuns: 25 },
    );
  });

  test("every split point of a small stream, and random chunkings of large ones, give the same result", () => {
    const all = Buffer.concat([interleave(0, new Uint8Array(300).fill(7)), formatResponse(200, [["CSeq", "3"], ["Session", "abc;timeout=60"]], "v=0\r\n"), interleave(1, Uint8Array.of(1, 2, 3))]);
    const whole = readAll([all]);
    expect(whole.items.length).toBe(3);
    for (let cut = 1; cut < all.length; cut++) expect(readAll([all.subarray(0, cut), all.subarray(cut)])).toEqual(whole);
    fc.assert(
      fc.property(stream, fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 20 }), (bytes, cuts) => {
        const chunks: Uint8Array[] = [];
        for (let off = 0, i = 0; off < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          chunks.push(Buffer.from(bytes.subarray(off, off + n)));
          off += n;
        }
        expect(readAll(chunks)).toEqual(readAll([bytes]));
      }),
      { numRuns: 200 },
    );
  });

  test("headers are found whatever their case; the body is exactly Content-Length bytes", () => {
    const got = readAll([Buffer.from("RTSP/1.0 200 OK\r\ncseq: 7\r\nCONTENT-length: 3\r\n\r\nabcRTSP/1.0 200 OK\r\nCSeq: 8\r\n\r\n")]);
    expect(got.items).toEqual([
      { msg: { start: "RTSP/1.0 200 OK", headers: ["cseq: 7", "CONTENT-length: 3"], body: "abc", cseq: "7" } },
      { msg: { start: "RTSP/1.0 200 OK", headers: ["CSeq: 8"], body: "", cseq: "8" } },
    ]);
  });

  test("hostile bytes (NUL, lone CR/LF, binary) never throw and never make the reader buffer without bound", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.string({ maxLength: 500 }).map((s) => Buffer.from(s + "\0\r\n"))), { maxLength: 40 }), (chunks) => {
        const r = new RtspReader({ maxHead: 2048, maxBody: 2048 });
        for (const c of chunks) {
          if (r.push(c)) return;
          // Unrefused, whatever is held is at most one incomplete frame or one head + body.
          expect((r as unknown as { pendLen: number }).pendLen).toBeLessThanOrEqual(Math.max(4 + 0xffff, 2048 + 4 + 2048));
        }
      }),
      { numRuns: 300 },
    );
    const r = new RtspReader({ maxHead: 1024 });
    let refused: string | undefined;
    for (let i = 0; i < 10 && !refused; i++) refused = r.push(Buffer.alloc(512, 0x41));
    expect(refused).toContain("too long");
  });

  test("a huge, negative or non-numeric Content-Length is refused at once, not waited for", () => {
    for (const v of ["99999999999999999999", "70000", "-1", "1e3", "0x10", " ", "12abc", "NaN"]) {
      const got = readAll([Buffer.from(`RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: ${v}\r\n\r\n`)]);
      expect(got.error).toContain("Content-Length");
      expect(got.items).toEqual([]);
    }
    expect(readAll([Buffer.from("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 0\r\n\r\n")]).items.length).toBe(1);
  });

  test("a long head sent a byte at a time is read whole, once", () => {
    const r = new RtspReader({ maxHead: 64 * 1024 });
    let n = 0;
    r.onMessage = () => n++;
    const head = Buffer.from(`OPTIONS * RTSP/1.0\r\nX-Pad: ${"a".repeat(60_000)}\r\n\r\n`);
    for (const b of head) expect(r.push(Uint8Array.of(b))).toBeUndefined();
    expect(n).toBe(1);
  });
});

describe("serialising", () => {
  test("CR, LF or NUL anywhere in a header name, value, method or URI is refused (header injection)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.constantFrom("\r", "\n", "\0", "\r\n"), fc.string({ maxLength: 20 }), (a, bad, b) => {
        const v = a + bad + b;
        expect(() => formatRequest("OPTIONS", "*", [["X-Test", v]])).toThrow(RtspFormatError);
        expect(() => formatResponse(200, [["X-Test", v]])).toThrow(RtspFormatError);
        expect(() => formatResponse(200, [[v, "x"]])).toThrow(RtspFormatError);
        expect(() => formatRequest("OPTIONS", `rtsp://h/${v}`, [])).toThrow(RtspFormatError);
      }),
    );
    expect(() => formatRequest("GET\r\nX", "*", [])).toThrow(RtspFormatError);
  });

  test("what is serialised reads back as the same message; Content-Length comes from the body, never the caller", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(token, value), { maxLength: 8 }), fc.string({ maxLength: 200 }), (headers, body) => {
        const bytes = formatRequest("SET_PARAMETER", "rtsp://cam:554/a", [["CSeq", "9"], ["Content-Length", "5"], ...headers], body);
        const got = readAll([bytes]);
        expect(got.error).toBeUndefined();
        expect(got.items.length).toBe(1);
        const m = (got.items[0] as { msg: { start: string; body: string } }).msg;
        expect(parseRequestLine(m.start)).toEqual({ method: "SET_PARAMETER", uri: "rtsp://cam:554/a", version: "1.0" });
        expect(Buffer.from(m.body, "latin1").toString("utf8")).toBe(body);
      }),
    );
  });

  test("start lines: hostile strings never throw; requests and statuses parse only when well formed", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (s) => {
        parseRequestLine(s);
        parseStatusLine(s);
      }),
    );
    expect(parseStatusLine("RTSP/1.0 401 Unauthorized")).toEqual({ status: 401, reason: "Unauthorized" });
    expect(parseStatusLine("RTSP/1.0 200")).toEqual({ status: 200, reason: "" });
    expect(parseStatusLine("HTTP/1.1 200 OK")).toBeNull();
    expect(parseRequestLine("DESCRIBE rtsp://x/y RTSP/1.0")).toEqual({ method: "DESCRIBE", uri: "rtsp://x/y", version: "1.0" });
    expect(parseRequestLine("DESCRIBE rtsp://x/y HTTP/1.0")).toBeNull();
  });
});
