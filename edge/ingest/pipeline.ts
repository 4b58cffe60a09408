/**
 * The gst-launch command line for one recorded stream: RTSP over TCP → depayload → parse →
 * fragmented MP4 on stdout. Stream copy only: no element here decodes or encodes media.
 */
import type { AudioCodec, VideoCodec } from "./probe.ts";

export interface PipelineSpec {
  url: string;
  user?: string;
  password?: string;
  video: VideoCodec;
  /** Recorded only when mp4mux can carry it without transcoding (AAC); G.711 and LATM are dropped. */
  audio?: AudioCodec;
  latencyMs: number;
}

export const GST_LAUNCH = "gst-launch-1.0";

/**
 * Whether an audio codec goes into the recording: mp4mux has no G.711 sample entry, and
 * rtpmp4adepay → aacparse → mp4mux writes LATM audio that ffmpeg cannot decode (GStreamer 1.22).
 */
export function recordsAudio(a: AudioCodec | undefined): a is "aac" {
  return a === "aac";
}

export function pipelineArgs(spec: PipelineSpec): string[] {
  // buffer-mode=none: timestamps from RTP alone. The default (slave) smooths them with arrival
  // times, which squeezes the burst of frames after connecting closer than a frame apart.
  const src = ["rtspsrc", "name=src", `location=${spec.url}`, "protocols=tcp", `latency=${spec.latencyMs}`, "buffer-mode=none"];
  // Credentials go as properties, not in the URL: rtspsrc then answers Digest challenges itself.
  if (spec.user !== undefined) src.push(`user-id=${spec.user}`);
  if (spec.password !== undefined) src.push(`user-pw=${spec.password}`);
  // config-interval=-1: parameter sets before every keyframe, so a mid-stream format change
  // stays decodable and ingest can see it (paramsets.ts) — mp4mux alone would keep the old avcC.
  const depay =
    spec.video === "h264"
      ? ["rtph264depay", "!", "h264parse", "config-interval=-1"]
      : ["rtph265depay", "!", "h265parse", "config-interval=-1"];
  const args = [
    "-q",
    ...src,
    "src.", "!", "application/x-rtp,media=video", "!", ...depay, "!", "queue", "!", "mux.",
  ];
  if (spec.audio !== undefined) {
    // An unlinked rtspsrc pad stops the whole pipeline (not-linked), so audio that is not
    // recorded still needs a sink.
    if (recordsAudio(spec.audio)) {
      args.push("src.", "!", "application/x-rtp,media=audio", "!", "rtpmp4gdepay", "!", "aacparse", "!", "queue", "!", "mux.");
    } else {
      args.push("src.", "!", "application/x-rtp,media=audio", "!", "fakesink", "sync=false", "async=false");
    }
  }
  args.push("mp4mux", "name=mux", "fragment-duration=500", "streamable=true", "!", "fdsink", "fd=1");
  return args;
}
