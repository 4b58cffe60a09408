/**
 * Which audio a native session records, and how: the SDP's audio track → the MP4 track config
 * and a depacketizer that turns its RTP packets into frames. AAC (RFC 3640) and MP4A-LATM
 * (RFC 6416) are stream-copied into `mp4a`; G.711 μ-law/A-law is expanded exactly and stored
 * as FLAC (audio.ts says why). Anything else throws with a sentence for the stream status.
 */
import { AacDepacketizer, type AudioFrame, type RtpPacket } from "./rtp.ts";
import { aacConfig } from "./codec.ts";
import { FLAC_MAX_BLOCK, G711ToFlac, latmConfig, latmFrames } from "./audio.ts";
import type { FragmenterAudio } from "./fragmenter.ts";
import type { SdpMedia } from "../../../lib/rtsp/index.ts";
import { concat } from "../../../lib/mp4/index.ts";

export interface AudioPath {
  media: SdpMedia;
  config: FragmenterAudio;
  /** How the audio is recorded when not by plain stream copy (shown in the stream status). */
  note?: string;
  depacketizer(onFrame: (f: AudioFrame) => void): { push(p: RtpPacket): void };
}

export function audioPath(m: SdpMedia): AudioPath {
  const enc = m.encoding;
  if (enc === "MPEG4-GENERIC") {
    if (!m.fmtp.config || !/aac-hbr|aac-lbr/i.test(m.fmtp.mode ?? "")) throw new Error(`MPEG4-GENERIC audio in mode '${m.fmtp.mode ?? "?"}' is not recorded (AAC-hbr/lbr are)`);
    const c = aacConfig(m.fmtp.config);
    return {
      media: m,
      config: { codec: "aac", ...c, clockRate: m.clockRate || c.sampleRate },
      depacketizer(onFrame) {
        const d = new AacDepacketizer(Number(m.fmtp.sizelength ?? 13), Number(m.fmtp.indexlength ?? 3), Number(m.fmtp.indexdeltalength ?? 3));
        d.onFrame = onFrame;
        return d;
      },
    };
  }
  if (enc === "MP4A-LATM") {
    if ((m.fmtp.cpresent ?? "1") !== "0" || !m.fmtp.config) throw new Error("MP4A-LATM audio with in-band configuration (cpresent=1) is not recorded");
    const c = latmConfig(m.fmtp.config);
    return {
      media: m,
      config: { codec: "aac", sampleRate: c.sampleRate, channels: c.channels, config: c.config, clockRate: m.clockRate || c.sampleRate },
      depacketizer(onFrame) {
        // One audioMuxElement may span packets; the marker bit ends it.
        let parts: Uint8Array[] = [];
        return {
          push(p) {
            parts.push(p.payload.slice());
            if (!p.marker) return;
            const whole = parts.length === 1 ? parts[0]! : concat(parts);
            parts = [];
            latmFrames(whole, c.subFrames).forEach((data, i) => onFrame({ timestamp: (p.timestamp + i * 1024) >>> 0, data }));
          },
        };
      },
    };
  }
  if (enc === "PCMU" || enc === "PCMA") {
    const rate = m.clockRate || 8000;
    if ((m.channels ?? 1) !== 1) throw new Error(`${enc} audio with ${m.channels} channels is not recorded (mono G.711 is)`);
    const flac = new G711ToFlac(enc === "PCMU" ? "pcmu" : "pcma", rate);
    return {
      media: m,
      config: { codec: "flac", sampleRate: rate, channels: 1, config: flac.streamInfo(), clockRate: rate },
      note: `G.711 ${enc === "PCMU" ? "μ-law" : "A-law"} recorded losslessly as FLAC (browsers do not play G.711 in MP4)`,
      depacketizer(onFrame) {
        return {
          push(p) {
            for (let o = 0; o < p.payload.length; o += FLAC_MAX_BLOCK) {
              const chunk = p.payload.subarray(o, o + FLAC_MAX_BLOCK);
              onFrame({ timestamp: (p.timestamp + o) >>> 0, data: flac.frame(chunk), duration: chunk.length });
            }
          },
        };
      },
    };
  }
  throw new Error(`${enc} audio is not recorded (AAC, MP4A-LATM and G.711 are)`);
}
