/** SDP: what RTSP out builds, the ingest reads back; hostile text never throws. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { formatSdp, parseSdpMedia, type SdpSession } from "./sdp.ts";

const word = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9+-]{0,12}$/);
const media = fc.record({
  kind: fc.constantFrom("video", "audio"),
  payloadType: fc.integer({ min: 96, max: 127 }),
  encoding: fc.constantFrom("H264", "H265", "MPEG4-GENERIC", "OPUS"),
  clockRate: fc.integer({ min: 8000, max: 90000 }),
  fmtp: fc.array(fc.tuple(word.map((w) => w.toLowerCase()), word), { maxLength: 5 }),
  track: fc.nat(9),
});

test("formatSdp → parseSdpMedia round trip: encoding, clock rate, fmtp and control URLs come back", () => {
  fc.assert(
    fc.property(fc.array(media, { minLength: 1, maxLength: 4 }), fc.string({ maxLength: 30 }), (ms, title) => {
      const s: SdpSession = {
        sessionId: "1",
        host: "10.0.0.1",
        title,
        attributes: ["range:npt=now-"],
        media: ms.map((m) => ({ kind: m.kind, payloadType: m.payloadType, rtpmap: `${m.encoding}/${m.clockRate}`, fmtp: m.fmtp as [string, string][], control: `trackID=${m.track}` })),
      };
      const got = parseSdpMedia(formatSdp(s), "rtsp://h:554/cam/main/");
      expect(got.map((g) => ({ kind: g.kind, payloadType: g.payloadType, encoding: g.encoding, clockRate: g.clockRate, control: g.control, fmtp: { ...g.fmtp } }))).toEqual(
        ms.map((m) => ({ kind: m.kind, payloadType: m.payloadType, encoding: m.encoding, clockRate: m.clockRate, control: `rtsp://h:554/cam/main/trackID=${m.track}`, fmtp: Object.fromEntries(m.fmtp) })),
      );
    }),
  );
});

test("a title or value with line breaks cannot add an SDP line", () => {
  const text = formatSdp({ sessionId: "1", host: "h", title: "x\r\na=control:rtsp://evil/", media: [] });
  expect(text.split("\r\n").filter((l) => l.startsWith("a=control:"))).toEqual(["a=control:*"]);
});

test("control URLs: absolute kept, relative joined to the session control or content base, static payload types known", () => {
  const sdp = "v=0\r\na=control:rtsp://cam/s/\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 h264/90000\r\na=fmtp:96 packetization-mode=1; Sprop-Parameter-Sets=Z0IA,aM4=\r\na=control:track1\r\nm=audio 0 RTP/AVP 0\r\na=control:rtsp://other/a\r\n";
  const [v, a] = parseSdpMedia(sdp, "rtsp://base/");
  expect(v).toMatchObject({ encoding: "H264", clockRate: 90000, control: "rtsp://cam/s/track1", fmtp: { "packetization-mode": "1", "sprop-parameter-sets": "Z0IA,aM4=" } });
  expect(a).toMatchObject({ encoding: "PCMU", clockRate: 8000, channels: 1, control: "rtsp://other/a" });
});

test("hostile SDP text never throws", () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string({ maxLength: 60, unit: "binary" }), fc.constantFrom("m=", "m=video", "a=rtpmap:", "a=fmtp:96 ;;=;", "a=control:", "a=rtpmap:96 /", "a=fmtp:96 __proto__=1;constructor=2")), { maxLength: 20 }), (lines) => {
      for (const m of parseSdpMedia(lines.join("\r\n"), "rtsp://b/")) expect(typeof m.encoding).toBe("string");
    }),
    { numRuns: 300 },
  );
});
