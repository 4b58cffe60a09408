/**
 * The GStreamer engine: probe (DESCRIBE) → gst-launch child writing fragmented MP4 on stdout →
 * FragmentSplitter. Audio-only moofs (mp4mux writes one per track) ride along with the next
 * video moof; an in-band parameter-set change kills the child (gap "restart") so the next one
 * writes a matching init segment. Exit status and stderr are classified into gap reasons.
 */
import { existsSync } from "node:fs";
import { FragmentSplitter, concat, parseFragment, type FragmentInfo, type InitInfo } from "../../lib/mp4/index.ts";
import type { GapReason } from "../../lib/store/types.ts";
import { describeStream } from "./probe.ts";
import { startRtspRelay } from "./relay.ts";
import { GST_LAUNCH, pipelineArgs, recordsAudio } from "./pipeline.ts";
import { keyframeParamSets, sameBytes } from "./paramsets.ts";
import type { IngestSession, SessionParams } from "./source.ts";

const SETPRIV = "/usr/bin/setpriv";

type End = { reason: GapReason; detail: string };

class GstSession implements IngestSession {
  readonly done: Promise<End>;
  private proc: ReturnType<typeof Bun.spawn> | undefined;
  private selfReason: End | undefined;
  private killed = false;

  constructor(private readonly p: SessionParams) {
    this.done = this.run();
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  kill(): void {
    this.killed = true;
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    try {
      // SIGKILL: the fMP4 on stdout is already whole fragments; nothing to finalise in the child.
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  private async run(): Promise<End> {
    const { p } = this;
    const desc = await describeStream({ url: p.url, ...(p.user !== undefined ? { user: p.user } : {}), ...(p.password !== undefined ? { password: p.password } : {}), timeoutMs: Math.min(p.connectTimeoutMs, 5000) });
    const audioName = desc.audio ?? desc.unsupportedAudio;
    if (audioName !== undefined) {
      const recorded = recordsAudio(desc.audio);
      desc.audioRecorded = recorded;
      if (!recorded) desc.audioDetail = `${audioName} audio is not recorded by the gstreamer engine (the native engine records G.711 losslessly as FLAC, and LATM)`;
      if (!recorded) p.log.info("audio track not recorded (no stream-copy path into MP4)", { audio: audioName });
    }
    p.handlers.described(desc);
    if (this.killed) return { reason: "stopped", detail: "recorder stopped" };
    const user = p.user ?? urlPart(p.url, "username");
    const password = p.password ?? urlPart(p.url, "password");
    // A password never goes on gst-launch's command line (world-readable in /proc): the child
    // talks to a loopback relay that authenticates to the camera for it (relay.ts).
    const relay = password !== undefined ? await startRtspRelay({ cameraUrl: stripCredentials(p.url), cred: { user: user ?? "", password }, log: p.log }) : null;
    try {
      return await this.record(desc, pipelineArgs({
        url: relay ? relay.url : stripCredentials(p.url),
        ...(relay || user === undefined ? {} : { user }),
        video: desc.video!,
        audio: desc.audio,
        latencyMs: p.latencyMs,
      }));
    } finally {
      relay?.close();
    }
  }

  private async record(desc: Awaited<ReturnType<typeof describeStream>>, args: string[]): Promise<End> {
    const { p } = this;
    // setpriv --pdeathsig: the child dies with this process even on kill -9, while staying in
    // our process group (no setsid), so a terminal's Ctrl-C reaches it too.
    const cmd = existsSync(SETPRIV) ? [SETPRIV, "--pdeathsig", "KILL", "--", GST_LAUNCH, ...args] : [GST_LAUNCH, ...args];
    const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    if (this.killed) this.kill();
    p.pidFile?.add(proc.pid);
    p.log.info("pipeline started", { pid: proc.pid, codec: desc.video, audio: desc.audio });
    const stderrText = readTail(proc.stderr as ReadableStream<Uint8Array>, 8192);
    const splitter = new FragmentSplitter();
    let init: InitInfo | undefined;
    let failed = false;
    let pendingAudio: Uint8Array[] = [];
    let paramSets: Uint8Array | undefined;
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      p.handlers.activity();
      if (failed) continue;
      try {
        for (const item of splitter.push(chunk)) {
          if (item.kind === "init") {
            pendingAudio = [];
            paramSets = undefined;
            init = item.info;
            p.handlers.init(item.bytes, item.info);
            continue;
          }
          const vid = init?.video?.trackId;
          if (vid !== undefined && !item.info.runs.some((r) => r.trackId === vid)) {
            pendingAudio.push(item.bytes);
            if (pendingAudio.length > 64) pendingAudio.shift(); // video stopped but audio goes on: bound memory
            continue;
          }
          if (item.info.keyframe) {
            const ps = keyframeParamSets(item.bytes, desc.video!);
            if (ps && !paramSets) paramSets = ps;
            else if (ps && paramSets && !sameBytes(ps, paramSets)) {
              // The camera changed resolution/profile: this fragment does not match the init
              // segment, so it is not written; a new child brings a matching init.
              this.selfReason ??= { reason: "restart", detail: "camera changed the stream format (resolution or profile)" };
              this.kill();
              failed = true;
              break;
            }
          }
          const bytes = pendingAudio.length ? concat([...pendingAudio, item.bytes]) : item.bytes;
          const info = pendingAudio.length ? mergedInfo(item.info, pendingAudio, init!) : item.info;
          pendingAudio = [];
          await p.handlers.fragment(bytes, info);
        }
      } catch (e) {
        this.selfReason ??= { reason: "crash", detail: `recording failed: ${(e as Error).message}` };
        failed = true;
        this.kill();
      }
    }
    await proc.exited;
    p.pidFile?.remove(proc.pid);
    const stderr = await stderrText;
    const end = this.selfReason ?? classifyExit(proc.exitCode, proc.signalCode === null ? null : String(proc.signalCode), stderr);
    p.log.info("pipeline ended", { pid: proc.pid, code: proc.exitCode, signal: proc.signalCode, reason: end.reason, detail: end.detail });
    this.proc = undefined;
    return end;
  }
}

export function gstSession(p: SessionParams): IngestSession {
  return new GstSession(p);
}

/** The video fragment's timing and keyframe flag, with the runs of the audio fragments before it. */
function mergedInfo(video: FragmentInfo, audio: Uint8Array[], init: InitInfo): FragmentInfo {
  const runs = audio.flatMap((a) => parseFragment(a, init).runs);
  return { ...video, runs: [...runs, ...video.runs] };
}

/** Why gst-launch ended, from its exit status and stderr (rtspsrc's error texts). */
export function classifyExit(code: number | null, signal: string | null, stderr: string): { reason: GapReason; detail: string } {
  const firstError = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("Additional debug info") && !l.startsWith("../") && !/doesn't want to preroll/.test(l));
  const detail = firstError.slice(0, 3).join(" | ").slice(0, 400);
  if (signal) return { reason: "crash", detail: `pipeline killed by ${signal}${detail ? `: ${detail}` : ""}` };
  if (/Unauthorized|\b401\b/.test(stderr)) return { reason: "auth-failed", detail: "camera refused the credentials (401 Unauthorized)" };
  if (/Not Found|\b404\b/.test(stderr)) return { reason: "camera-offline", detail: "stream not found on the camera (404)" };
  if (/Could not open resource|Could not read from resource|Could not write to resource|Failed to connect|Connection refused|timed? ?out/i.test(stderr)) {
    return { reason: "camera-offline", detail: detail || "connection to the camera lost" };
  }
  if (code === 0) return { reason: "camera-offline", detail: "camera ended the stream (EOS)" };
  if (/not-negotiated|negotiat/i.test(stderr)) return { reason: "restart", detail: `stream format changed: ${detail}` };
  return { reason: "crash", detail: detail || `pipeline exited with code ${code}` };
}

function stripCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

function urlPart(url: string, part: "username" | "password"): string | undefined {
  try {
    const v = new URL(url)[part];
    return v ? decodeURIComponent(v) : undefined;
  } catch {
    return undefined;
  }
}

async function readTail(stream: ReadableStream<Uint8Array>, max: number): Promise<string> {
  let text = "";
  const dec = new TextDecoder();
  for await (const chunk of stream) {
    text += dec.decode(chunk, { stream: true });
    if (text.length > max * 2) text = text.slice(-max);
  }
  return text.slice(-max);
}
