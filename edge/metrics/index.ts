/**
 * What an edge reports to Prometheus: per stream ingest state, bitrate, frame rate, writer lag and
 * dropped fragments; disk and retention horizon; the uplink (connected, outbox depth, clock
 * offset); the certificate's expiry; the transfer queue. Every value is read at scrape time from
 * the same status /health answers with, so the two cannot disagree. Owns no state and starts
 * nothing; edge/main.ts serves the registry on the metrics listener.
 */
import type { Clock } from "../../lib/clock.ts";
import { newRegistry, scrapeGroup, type Registry, type Sample } from "../../lib/metrics/index.ts";
import type { StreamKind } from "../../lib/store/types.ts";
import type { WriterStatus } from "../../lib/store/index.ts";
import type { UplinkStatus } from "../uplink/index.ts";
import type { EdgeTransferStatus } from "../transfer/index.ts";

/** The slice of a stream's health the metrics read (edge/main.ts StreamHealth). */
export interface StreamSample {
  cameraId: string;
  stream: StreamKind;
  state: string;
  bitrateKbps: number;
  fps: number;
  lastFragmentAt: string | null;
  sessions: number;
  writer: WriterStatus;
}

export interface EdgeMetricsSource {
  name: string;
  clock: Clock;
  streams(): StreamSample[];
  usage(): Promise<{ totalBytes: number; volumeFreeBytes: number; volumeTotalBytes: number }>;
  /** Oldest and newest footage per camera stream (MediaStore.cameras()). */
  footage(): Promise<{ cameraId: string; stream: StreamKind; firstMs: number; lastMs: number }[]>;
  diskFull(streams: StreamSample[], usage: { volumeFreeBytes: number }): boolean;
  uplink(): UplinkStatus | null;
  transfer(): EdgeTransferStatus | null;
  certificateNotAfterMs(): number | null;
}

const STREAM = ["camera", "stream"] as const;

export function edgeMetrics(src: EdgeMetricsSource): Registry {
  const registry = newRegistry({ edge: src.name });
  scrapeGroup(
    registry,
    {
      recording: { name: "outpost_stream_recording", help: "1 while the stream's fragments reach the disk", labels: STREAM },
      state: { name: "outpost_stream_state", help: "1 for the stream's current state (connecting, recording, not-writing, stalled, backoff, stopped)", labels: [...STREAM, "state"] },
      bitrate: { name: "outpost_stream_bitrate_bits_per_second", help: "Recorded bitrate over the last seconds", labels: STREAM },
      fps: { name: "outpost_stream_frames_per_second", help: "Recorded frame rate over the last seconds", labels: STREAM },
      fragmentAge: { name: "outpost_stream_last_fragment_age_seconds", help: "Time since the last fragment arrived from the camera", labels: STREAM },
      writerLag: { name: "outpost_stream_writer_lag_seconds", help: "Age of the oldest fragment not yet durable on disk", labels: STREAM },
      dropped: { name: "outpost_stream_dropped_fragments", help: "Fragments dropped since start (disk full, disk too slow, before the first keyframe)", labels: STREAM },
      sessions: { name: "outpost_stream_sessions", help: "Pipeline starts since the ingest began (restarts + 1)", labels: STREAM },
    },
    async () => {
      const now = src.clock.now();
      const streams = src.streams();
      const per = (f: (s: StreamSample) => number | null): Sample[] => streams.flatMap((s) => {
        const v = f(s);
        return v === null ? [] : [[{ camera: s.cameraId, stream: s.stream }, v] as const];
      });
      return {
        recording: per((s) => (s.state === "recording" ? 1 : 0)),
        state: streams.map((s) => [{ camera: s.cameraId, stream: s.stream, state: s.state }, 1] as const),
        bitrate: per((s) => s.bitrateKbps * 1000),
        fps: per((s) => s.fps),
        fragmentAge: per((s) => (s.lastFragmentAt ? Math.max(0, (now - Date.parse(s.lastFragmentAt)) / 1000) : null)),
        writerLag: per((s) => s.writer.lagMs / 1000),
        dropped: per((s) => s.writer.dropped),
        sessions: per((s) => s.sessions),
      };
    },
  );
  scrapeGroup(
    registry,
    {
      free: { name: "outpost_disk_free_bytes", help: "Free bytes on the store's volume" },
      total: { name: "outpost_disk_size_bytes", help: "Size of the store's volume" },
      store: { name: "outpost_store_bytes", help: "Bytes of recorded segments" },
      full: { name: "outpost_disk_full", help: "1 while fragments are refused for lack of space" },
      horizon: { name: "outpost_retention_horizon_seconds", help: "Age of the oldest footage kept, per camera stream", labels: STREAM },
    },
    async () => {
      const [u, footage] = await Promise.all([src.usage(), src.footage()]);
      const now = src.clock.now();
      return {
        free: u.volumeFreeBytes,
        total: u.volumeTotalBytes,
        store: u.totalBytes,
        full: src.diskFull(src.streams(), u) ? 1 : 0,
        horizon: footage.map((f) => [{ camera: f.cameraId, stream: f.stream }, Math.max(0, (now - f.firstMs) / 1000)] as const),
      };
    },
  );
  scrapeGroup(
    registry,
    {
      connected: { name: "outpost_uplink_connected", help: "1 while the control-plane connection to central is up (absent when not enrolled)" },
      pending: { name: "outpost_outbox_pending_messages", help: "Messages waiting for central's acknowledgement" },
      bytes: { name: "outpost_outbox_bytes", help: "Bytes of the outbox on disk" },
      dropped: { name: "outpost_outbox_dropped_messages", help: "Telemetry messages dropped (oldest first) because the outbox was full" },
      offset: { name: "outpost_clock_offset_seconds", help: "This host's clock minus central's (estimate over the acknowledgement round trip)" },
      trusted: { name: "outpost_clock_trusted", help: "1 while the clock agrees with central's" },
      certExpiry: { name: "outpost_certificate_expiry_timestamp_seconds", help: "When the site certificate expires (Unix time)" },
      queueItems: { name: "outpost_transfer_queue_items", help: "Segments queued for upload, per class", labels: ["class"] },
      queueBytes: { name: "outpost_transfer_queue_bytes", help: "Bytes still to upload, per class", labels: ["class"] },
      goodput: { name: "outpost_transfer_goodput_bytes_per_second", help: "Measured upload goodput over the last seconds of sending", labels: ["link"] },
      budgetBlocked: { name: "outpost_transfer_budget_blocked", help: "1 while uploads wait because the link's budget is spent" },
    },
    async () => {
      const u = src.uplink();
      const t = src.transfer();
      const notAfter = src.certificateNotAfterMs();
      return {
        connected: u ? (u.connected ? 1 : 0) : null,
        pending: u?.outbox.pending ?? null,
        bytes: u?.outbox.bytes ?? null,
        dropped: u?.outbox.dropped ?? null,
        offset: u?.clock.offsetMs != null ? u.clock.offsetMs / 1000 : null,
        trusted: u ? (u.clock.trusted ? 1 : 0) : null,
        certExpiry: notAfter !== null ? notAfter / 1000 : null,
        queueItems: t ? Object.entries(t.byClass).map(([cls, c]) => [{ class: cls }, c.items] as const) : null,
        queueBytes: t ? Object.entries(t.byClass).map(([cls, c]) => [{ class: cls }, c.bytes] as const) : null,
        goodput: t && t.bytesPerSecond !== null ? [[{ link: t.link }, t.bytesPerSecond]] : null,
        budgetBlocked: t ? (t.budgetBlocked ? 1 : 0) : null,
      };
    },
  );
  return registry;
}
