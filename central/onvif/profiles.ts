/**
 * The media side of a site device: one video source per camera, two media profiles per
 * camera (`<camera>.main`, `<camera>.sub`), each bound to its camera's source so a VMS that
 * onboards multi-channel encoders lists one channel per camera.
 */
import { xmlEscape } from "../../lib/onvif/index.ts";

export interface BridgeCamera {
  /** Central camera id `<site>.<camera>`. */
  id: string;
  siteId: string;
  /** The camera's id at its site (the video source token). */
  channel: string;
  name: string;
  streams: { kind: string; width?: number; height?: number; fps?: number; bitrateKbps?: number }[];
}

export type StreamKind = "main" | "sub";

/** `<camera>.<main|sub>` → its parts, or undefined. */
export function parseProfileToken(token: string | undefined): { channel: string; stream: StreamKind } | undefined {
  const m = token ? /^(.+)\.(main|sub)$/.exec(token) : null;
  return m ? { channel: m[1]!, stream: m[2] as StreamKind } : undefined;
}

function size(c: BridgeCamera, k: StreamKind): { width: number; height: number; fps: number; kbps: number } {
  const s = c.streams.find((x) => x.kind === k);
  return { width: s?.width ?? 0, height: s?.height ?? 0, fps: Math.round(s?.fps ?? 0), kbps: Math.round(s?.bitrateKbps ?? 0) };
}

export function videoSourcesXml(cams: BridgeCamera[]): string {
  return (
    `<trt:GetVideoSourcesResponse>` +
    cams
      .map((c) => {
        const m = size(c, "main");
        return `<trt:VideoSources token="${xmlEscape(c.channel)}"><tt:Framerate>${m.fps}</tt:Framerate><tt:Resolution><tt:Width>${m.width}</tt:Width><tt:Height>${m.height}</tt:Height></tt:Resolution></trt:VideoSources>`;
      })
      .join("") +
    `</trt:GetVideoSourcesResponse>`
  );
}

export function profileXml(c: BridgeCamera, k: StreamKind, tag: string): string {
  const s = size(c, k);
  const m = size(c, "main");
  const tok = xmlEscape(`${c.channel}.${k}`);
  return (
    `<trt:${tag} token="${tok}" fixed="true"><tt:Name>${xmlEscape(`${c.name} ${k}`)}</tt:Name>` +
    `<tt:VideoSourceConfiguration token="vsc.${xmlEscape(c.channel)}"><tt:Name>${xmlEscape(c.name)}</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>${xmlEscape(c.channel)}</tt:SourceToken><tt:Bounds x="0" y="0" width="${m.width}" height="${m.height}"/></tt:VideoSourceConfiguration>` +
    `<tt:VideoEncoderConfiguration token="vec.${tok}"><tt:Name>${tok}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>` +
    `<tt:Resolution><tt:Width>${s.width}</tt:Width><tt:Height>${s.height}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>` +
    `<tt:RateControl><tt:FrameRateLimit>${s.fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>${s.kbps}</tt:BitrateLimit></tt:RateControl>` +
    `<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>` +
    `<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>` +
    `</trt:${tag}>`
  );
}
