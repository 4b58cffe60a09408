/**
 * Supervises camsim/rtsp_server.py (GstRtspServer through /usr/bin/python3 + gi) and talks to it
 * with JSON lines: config on the first stdin line, then commands that each get an ack.
 * The child runs in its own process group so close() can take down everything it started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Logger } from "../lib/log/index.ts";

export interface StreamSpec {
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
}

export interface RtspConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  audio: boolean;
  audioCodec: AudioCodec;
  codec: VideoCodec;
  /** B-frames per GOP step (0 = none, what most cameras send). */
  bframes: number;
  /** First RTP timestamp offset of every payloader (32-bit); absent = random, as RFC 3550 says. */
  timestampOffset?: number;
  pattern: string;
  profile: "baseline" | "main";
  cameras: { id: string; name: string; main: StreamSpec; sub: StreamSpec }[];
}

export type VideoCodec = "h264" | "h265" | "mjpeg";
/** aac: RFC 3640 mpeg4-generic; latm: RFC 6416 MP4A-LATM; pcmu/pcma: G.711 μ-law/A-law. */
export type AudioCodec = "aac" | "latm" | "pcmu" | "pcma";

export type RtspCommand =
  | { cmd: "stop" | "start" | "stall" | "resume"; camera: string }
  | { cmd: "resolution"; camera: string; width: number; height: number }
  | { cmd: "jump"; camera: string; seconds: number }
  | { cmd: "rate"; camera: string; rate: number }
  | { cmd: "activity"; camera: string; windows: [number, number][] };

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./rtsp_server.py", import.meta.url).pathname;

export class RtspServer {
  port = 0;
  private child: ChildProcess;
  private nextId = 1;
  private pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private exited: Promise<number | null>;
  private closing = false;

  private constructor(cfg: RtspConfig, private log: Logger) {
    this.child = spawn(PYTHON, [SCRIPT], { stdio: ["pipe", "pipe", "pipe"], detached: true });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    this.child.stdin!.write(JSON.stringify(cfg) + "\n");
    createInterface({ input: this.child.stderr! }).on("line", (line) => {
      if (line.trim()) this.log.warn("rtsp server stderr", { line });
    });
  }

  /** Starts the child and resolves once its RTSP port is bound. */
  static async start(cfg: RtspConfig, log: Logger, timeoutMs = 15000): Promise<RtspServer> {
    const s = new RtspServer(cfg, log);
    try {
      s.port = await s.waitReady(timeoutMs);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  private waitReady(timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => reject(new Error(`RTSP server did not become ready within ${timeoutMs} ms`)), timeoutMs);
      createInterface({ input: this.child.stdout! }).on("line", (line) => {
        let msg: { type?: string; port?: number; id?: number; ok?: boolean; error?: string; level?: string; msg?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          this.log.warn("rtsp server wrote a non-JSON line", { line });
          return;
        }
        if (msg.type === "ready" && typeof msg.port === "number") {
          ready = true;
          clearTimeout(timer);
          resolve(msg.port);
        } else if (msg.type === "fatal") {
          clearTimeout(timer);
          reject(new Error(`RTSP server failed: ${msg.error}`));
        } else if (msg.type === "ack" && typeof msg.id === "number") {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (p) msg.ok ? p.resolve() : p.reject(new Error(msg.error ?? "command failed"));
        } else if (msg.type === "log") {
          this.log.info(msg.msg ?? "", { from: "rtsp_server" });
        }
      });
      this.exited.then((code) => {
        clearTimeout(timer);
        if (!ready) reject(new Error(`RTSP server exited with code ${code} before it was ready`));
        for (const p of this.pending.values()) p.reject(new Error("RTSP server exited"));
        this.pending.clear();
        if (!this.closing) this.log.error("rtsp server exited unexpectedly", { code });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(command: RtspCommand, timeoutMs = 10000): Promise<void> {
    if (this.child.exitCode !== null || this.closing) return Promise.reject(new Error("RTSP server is not running"));
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`RTSP server did not answer '${command.cmd}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.stdin!.write(JSON.stringify({ id, ...command }) + "\n");
    });
  }

  /** Asks the child to quit, then kills its process group if it lingers. */
  async close(): Promise<void> {
    if (this.closing) {
      await this.exited;
      return;
    }
    this.closing = true;
    const pid = this.child.pid;
    if (this.child.exitCode === null && this.child.signalCode === null && pid) {
      try {
        this.child.stdin!.end();
        process.kill(-pid, "SIGTERM");
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
      }, 3000);
      await this.exited;
      clearTimeout(killer);
    }
  }
}
