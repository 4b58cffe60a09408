/** Property test: the relay's stream splitter returns exactly what was sent, however TCP cuts it. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { RtspStreamSplitter } from "./relay.ts";

const frame = fc.uint8Array({ maxLength: 3000 }).chain((p) =>
  fc.integer({ min: 0, max: 3 }).map((ch) => Buffer.concat([Buffer.from([0x24, ch, p.length >> 8, p.length & 0xff]), Buffer.from(p)])),
);
const message = fc.tuple(fc.integer({ min: 1, max: 99 }), fc.string({ maxLength: 200 })).map(([cseq, body]) => {
  const b = Buffer.from(body, "utf8");
  return Buffer.from(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n${b.length ? `Content-Length: ${b.length}\r\n` : ""}\r\n${body}`, "utf8");
});

test("frames and RTSP messages come out whole and in order for any chunking", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(frame, message), { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }), (parts, cuts) => {
      const all = Buffer.concat(parts);
      const s = new RtspStreamSplitter();
      const out: Buffer[] = [];
      for (let off = 0, i = 0; off < all.length; i++) {
        const n = cuts[i % cuts.length]!;
        for (const m of s.push(Buffer.from(all.subarray(off, off + n)))) {
          out.push(m.frame ?? Buffer.concat([Buffer.from(m.lines!.join("\r\n") + "\r\n\r\n", "latin1"), m.body!]));
        }
        off += n;
      }
      expect(Buffer.concat(out).equals(all)).toBe(true);
    }),
    { numRuns: 300 },
  );
});

test("garbage without a header end is refused once it exceeds the header bound, never buffered forever", () => {
  const s = new RtspStreamSplitter();
  expect(() => {
    for (let i = 0; i < 100; i++) s.push(Buffer.alloc(1024, 0x41));
  }).toThrow("too long");
});
