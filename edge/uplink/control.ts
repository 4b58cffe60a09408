/**
 * Central → edge control: desired configuration (validate, apply through the edge's callback,
 * keep the last good one, report applied version or the rejection reason) and commands (ids,
 * idempotent, expiry, result). Reports go through the outbox, so they survive outages.
 */
import { join } from "node:path";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { CommandMessage, ConfigMessage, DesiredConfig, parseMessage } from "../../federation/protocol/index.ts";
import type { Outbox } from "./outbox.ts";
import { readJsonState, writeJsonState, Serial } from "./state.ts";

export interface AppliedConfig {
  version: number;
  config: DesiredConfig;
}

export type ApplyConfig = (config: DesiredConfig, version: number) => Promise<void> | void;
export type CommandHandler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

interface ConfigState {
  applied: AppliedConfig | null;
  rejected: { version: number; reason: string } | null;
}

export class ConfigSubscriber {
  private state: ConfigState = { applied: null, rejected: null };
  private readonly file: string;
  private readonly serial = new Serial();

  constructor(
    private readonly d: { dir: string; outbox: Outbox; log: Logger; apply?: ApplyConfig; knownCamera: (id: string) => boolean; onApplied?: (c: AppliedConfig) => void },
  ) {
    this.file = join(d.dir, "config.json");
  }

  get applied(): AppliedConfig | null {
    return this.state.applied;
  }
  get rejected(): { version: number; reason: string } | null {
    return this.state.rejected;
  }

  /** Re-applies the last good config at start: the overlay must hold even while offline. */
  async load(): Promise<void> {
    this.state = await readJsonState<ConfigState>(this.file, { applied: null, rejected: null });
    const a = this.state.applied;
    if (a) {
      try {
        await this.d.apply?.(a.config, a.version);
        this.d.onApplied?.(a);
      } catch (e) {
        this.d.log.error("last good desired config could not be re-applied at start", { version: a.version, err: e as Error });
      }
    }
  }

  handle(payload: Uint8Array): Promise<void> {
    return this.serial.run(async () => {
      const p = parseMessage(ConfigMessage, payload);
      if (!p.ok) {
        this.d.log.warn("desired config message ignored", { reason: p.reason });
        return;
      }
      const { version, config } = p.msg;
      const cur = this.state.applied?.version ?? 0;
      if (version === cur || version === this.state.rejected?.version) return; // already answered (durably)
      if (version < cur) {
        this.d.log.info("stale desired config ignored", { version, applied: cur });
        return;
      }
      const reason = await this.check(config, version);
      if (reason) {
        this.state.rejected = { version, reason };
        await writeJsonState(this.file, this.state);
        await this.d.outbox.append("config-status", { version, state: "rejected", reason });
        this.d.log.warn("desired config rejected; keeping the last good one", { version, reason, kept: cur || null });
        return;
      }
      this.state.applied = { version, config: config as DesiredConfig };
      this.state.rejected = null;
      await writeJsonState(this.file, this.state);
      await this.d.outbox.append("config-status", { version, state: "applied" });
      this.d.onApplied?.(this.state.applied);
      this.d.log.info("desired config applied", { version });
    });
  }

  private async check(config: unknown, version: number): Promise<string | null> {
    const r = DesiredConfig.safeParse(config);
    if (!r.success) return r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; ");
    for (const id of Object.keys(r.data.cameras ?? {})) if (!this.d.knownCamera(id)) return `cameras.${id}: no such camera on this edge`;
    try {
      await this.d.apply?.(r.data, version);
    } catch (e) {
      return (e as Error).message || "the edge could not apply it";
    }
    return null;
  }
}

interface CommandState {
  /** id → outcome; "started" survives a crash so a redelivered command is not run twice. */
  seen: Record<string, { state: "started" | "done"; expiresAt: number }>;
}

export class CommandRunner {
  private state: CommandState = { seen: {} };
  private readonly file: string;
  private readonly serial = new Serial();

  constructor(private readonly d: { dir: string; outbox: Outbox; clock: Clock; log: Logger; handlers: Record<string, CommandHandler> }) {
    this.file = join(d.dir, "commands.json");
  }

  async load(): Promise<void> {
    this.state = await readJsonState<CommandState>(this.file, { seen: {} });
    for (const [id, s] of Object.entries(this.state.seen)) {
      if (s.state !== "started") continue;
      s.state = "done";
      await this.d.outbox.append("command-result", { commandId: id, status: "failed", error: "interrupted by an edge restart; not retried (commands run at most once)" });
    }
    await writeJsonState(this.file, this.state);
  }

  handle(payload: Uint8Array): Promise<void> {
    return this.serial.run(async () => {
      const p = parseMessage(CommandMessage, payload);
      if (!p.ok) {
        this.d.log.warn("command ignored", { reason: p.reason });
        return;
      }
      const c = p.msg;
      if (this.state.seen[c.id]) return; // idempotent: a redelivery is not run again
      const now = this.d.clock.now();
      const internal = c.name.startsWith("_");
      const handler = this.d.handlers[c.name];
      this.prune(now);
      if (c.expiresAt <= now) {
        this.state.seen[c.id] = { state: "done", expiresAt: c.expiresAt };
        await writeJsonState(this.file, this.state);
        if (!internal) await this.d.outbox.append("command-result", { commandId: c.id, status: "expired", error: `expired at ${new Date(c.expiresAt).toISOString()} before the edge received it` });
        return;
      }
      if (!handler) {
        this.state.seen[c.id] = { state: "done", expiresAt: c.expiresAt };
        await writeJsonState(this.file, this.state);
        await this.d.outbox.append("command-result", { commandId: c.id, status: "unknown-command", error: `this edge has no command "${c.name}"` });
        return;
      }
      this.state.seen[c.id] = { state: "started", expiresAt: c.expiresAt };
      await writeJsonState(this.file, this.state);
      let result: { status: "ok" | "failed"; result?: unknown; error?: string };
      try {
        result = { status: "ok", result: (await handler(c.args)) ?? null };
      } catch (e) {
        result = { status: "failed", error: (e as Error).message };
      }
      this.state.seen[c.id] = { state: "done", expiresAt: c.expiresAt };
      if (!internal) await this.d.outbox.append("command-result", { commandId: c.id, ...result });
      await writeJsonState(this.file, this.state);
      this.d.log.info("command handled", { id: c.id, name: c.name, status: result.status });
    });
  }

  /** Ids are kept a day past expiry: a redelivery after that would be refused as expired anyway. */
  private prune(now: number): void {
    for (const [id, s] of Object.entries(this.state.seen)) if (s.expiresAt + 86_400_000 < now) delete this.state.seen[id];
  }
}
