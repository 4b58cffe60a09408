/**
 * JPEG snapshots for the ONVIF GetSnapshotUri: rendered on request by a one-frame gst-launch
 * (same test pattern, camera name and wall clock as the stream) instead of tapping the RTSP
 * stream, so a snapshot never adds an RTSP client or waits for a keyframe.
 */
import { spawn } from "node:child_process";

export async function renderSnapshot(name: string, width: number, height: number, pattern: string, timeoutMs = 10000): Promise<Uint8Array<ArrayBuffer>> {
  const q = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  const pipeline = [
    `videotestsrc num-buffers=1 pattern=${pattern}`,
    `video/x-raw,width=${width},height=${height}`,
    `textoverlay text=${q(name)} halignment=left valignment=top shaded-background=true`,
    `clockoverlay time-format=${q("%Y-%m-%d %H:%M:%S")} halignment=right valignment=top shaded-background=true`,
    `jpegenc quality=80`,
    `fdsink fd=1`,
  ].join(" ! ");
  const child = spawn("gst-launch-1.0", ["-q", ...splitArgs(pipeline)], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const chunks: Buffer[] = [];
  let err = "";
  child.stdout!.on("data", (c: Buffer) => chunks.push(c));
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      reject(new Error(`snapshot did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("exit", (c) => (clearTimeout(timer), resolve(c)));
    child.once("error", (e) => (clearTimeout(timer), reject(e)));
  });
  const jpeg = Buffer.concat(chunks);
  if (code !== 0 || jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
    throw new Error(`snapshot failed (gst-launch exit ${code}): ${err.trim().slice(0, 300)}`);
  }
  return new Uint8Array(jpeg);
}

/** gst-launch re-joins argv with spaces; keep quoted values as one argument. */
function splitArgs(s: string): string[] {
  return s.match(/(?:[^\s"]+|"(?:\\.|[^"\\])*")+/g) ?? [];
}
