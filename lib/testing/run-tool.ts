/**
 * Test support: runs an external tool (ffmpeg, ffprobe, gst-launch-1.0) to its end and collects
 * what it wrote. Killed after `timeoutMs`, so a stream that never ends cannot hang a test; with
 * `procs`, the process is also listed there for the file's afterAll to kill (a test that fails
 * while a tool runs leaves none behind).
 */
import type { Subprocess } from "bun";

export interface ToolRun {
  code: number;
  out: string;
  err: string;
}

export async function runTool(cmd: string[], o: { timeoutMs: number; procs?: Subprocess[] }): Promise<ToolRun> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  o.procs?.push(p);
  const timer = setTimeout(() => p.kill("SIGKILL"), o.timeoutMs);
  try {
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code: await p.exited, out, err };
  } finally {
    clearTimeout(timer);
  }
}
