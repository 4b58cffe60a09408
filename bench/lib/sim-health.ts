/** A simulated edge's health report (8 cameras, main and sub each): what the control-plane benchmarks' edges send. */
export const simHealth = (i: number) => ({
  disk: { totalBytes: 2e12, freeBytes: 1e12 - i, storeBytes: 9e11 },
  streams: Array.from({ length: 8 }, (_, c) => [
    { cameraId: `cam${c}`, stream: "main" as const, state: "recording", bitrateKbps: 2000, fps: 15 },
    { cameraId: `cam${c}`, stream: "sub" as const, state: "recording", bitrateKbps: 300, fps: 10 },
  ]).flat(),
  link: { type: "cellular", quality: 0.8 },
  clock: { offsetMs: 4, trusted: true },
  cert: { notAfter: null, daysLeft: 80 },
  software: { version: "0.1.0" },
  outbox: { pending: 0, bytes: 0, dropped: 0 },
  config: { appliedVersion: 1 },
});
