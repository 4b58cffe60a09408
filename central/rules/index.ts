/**
 * central/rules/: rules and time profiles as data (API + config), validated, stored in the
 * rules and time_profiles tables, and applied to every ingested event: "when an event
 * matching X at site/camera Y during time profile Z → actions". Owns the rule index, dry run
 * and the action hooks other components register (retrieval, live switch, evidence lock).
 * Rules from the config file are (re)loaded at start and marked source "config". The tables are
 * in central's database (central/db, migration 0004); the index is built from them at start
 * and rebuilt when another node changes them (NOTIFY on RULES_CHANNEL).
 */
import type { Database } from "../db/index.ts";
import type { EventRec } from "../events/index.ts";
import { RuleIndex, type Verdict } from "./engine.ts";
import { Rule, TimeProfile, type RuleInput } from "./schema.ts";
import type { Actions } from "./actions.ts";

export { Rule, TimeProfile, Action, type RuleInput } from "./schema.ts";
export { inProfile, RuleIndex } from "./engine.ts";
export type { ActionHooks, RequestRetrieval, RetrievalRequest, LiveMainRequest, EvidenceLockRequest } from "./actions.ts";

export class RuleError extends Error {
  constructor(
    message: string,
    readonly code: "not-found" | "conflict" | "invalid",
  ) {
    super(message);
  }
}

/** The NOTIFY channel of rule and time-profile changes: payload = the changing node's token. */
export const RULES_CHANNEL = "outpost_rules";

export interface StoredRule extends Rule {
  source: "api" | "config";
}

export class Rules {
  private rules = new Map<string, StoredRule>();
  private profiles = new Map<string, TimeProfile>();
  private index = new RuleIndex([], new Map());
  /** Counters for health/benchmarks. */
  readonly stats = { events: 0, fired: 0 };
  /** Tells this instance's own notifications from another node's. */
  private readonly node = crypto.randomUUID();
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    private readonly db: Database,
    private readonly actions: Actions,
  ) {}

  async init(config: { rules: RuleInput[]; timeProfiles: TimeProfile[] }): Promise<void> {
    await this.load();
    for (const p of config.timeProfiles) await this.putProfile(p);
    for (const r of config.rules) await this.put(r, "config");
    this.rebuild();
    // Another node changed a rule or profile: read them all again (the tables are the truth).
    this.unlisten = await this.db.listen(RULES_CHANNEL, (from) => {
      if (from !== this.node) void this.load().then(() => this.rebuild(), () => undefined);
    });
  }

  /** Rules and profiles as the tables hold them. */
  private async load(): Promise<void> {
    const profiles = new Map<string, TimeProfile>();
    for (const r of await this.db.query<{ json: string }>(`SELECT json FROM time_profiles`)) {
      const p = TimeProfile.parse(JSON.parse(r.json));
      profiles.set(p.name, p);
    }
    const rules = new Map<string, StoredRule>();
    for (const r of await this.db.query<{ json: string; source: string }>(`SELECT json, source FROM rules`)) {
      const rule = Rule.parse(JSON.parse(r.json));
      rules.set(rule.id, { ...rule, source: r.source as "api" | "config" });
    }
    this.profiles = profiles;
    this.rules = rules;
  }

  /** A statement that changes rules or profiles, with the notification sent at its commit. */
  private async write(sql: string, params: string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run(sql, params);
      await tx.query(`SELECT pg_notify($1, $2)`, [RULES_CHANNEL, this.node]);
    });
  }

  async close(): Promise<void> {
    await this.unlisten?.().catch(() => undefined);
    this.unlisten = null;
  }

  private rebuild(): void {
    this.index = new RuleIndex([...this.rules.values()], this.profiles);
  }

  /** The rule engine's entry: called by Events for every new event, in ingest order. */
  onEvent(e: EventRec): void {
    this.stats.events++;
    for (const r of this.index.firing(e)) {
      this.stats.fired++;
      this.actions.run(r, e);
    }
  }

  /** Which rules this event would fire and why the others would not; nothing is done. */
  dryRun(e: EventRec): Verdict[] {
    return this.index.explain(e);
  }

  list(): StoredRule[] {
    return [...this.rules.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): StoredRule | null {
    return this.rules.get(id) ?? null;
  }

  /** Validate (schema + references) and store; replaces a rule with the same id. */
  async put(input: RuleInput, source: "api" | "config" = "api"): Promise<StoredRule> {
    const r = Rule.safeParse(input);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new RuleError(`rule ${(input as { id?: string }).id ?? "?"}: ${i.path.map(String).join(".") || "rule"}: ${i.message}`, "invalid");
    }
    const rule = r.data;
    if (rule.timeProfile && !this.profiles.has(rule.timeProfile)) throw new RuleError(`rule ${rule.id}: no time profile named ${rule.timeProfile}`, "invalid");
    const kinds = rule.actions.map((a) => a.kind);
    if (kinds.filter((k) => k === "alarm").length > 1) throw new RuleError(`rule ${rule.id}: at most one alarm action per rule`, "invalid");
    const stored: StoredRule = { ...rule, source };
    await this.write(`INSERT INTO rules (id, json, source) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET json = excluded.json, source = excluded.source`, [rule.id, JSON.stringify(rule), source]);
    this.rules.set(rule.id, stored);
    this.rebuild();
    return stored;
  }

  async delete(id: string): Promise<void> {
    if (!this.rules.has(id)) throw new RuleError(`No rule with id ${id}.`, "not-found");
    await this.write(`DELETE FROM rules WHERE id = $1`, [id]);
    this.rules.delete(id);
    this.rebuild();
  }

  listProfiles(): TimeProfile[] {
    return [...this.profiles.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async putProfile(input: unknown): Promise<TimeProfile> {
    const r = TimeProfile.safeParse(input);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new RuleError(`time profile: ${i.path.map(String).join(".") || "profile"}: ${i.message}`, "invalid");
    }
    await this.write(`INSERT INTO time_profiles (name, json) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET json = excluded.json`, [r.data.name, JSON.stringify(r.data)]);
    this.profiles.set(r.data.name, r.data);
    this.rebuild();
    return r.data;
  }

  async deleteProfile(name: string): Promise<void> {
    if (!this.profiles.has(name)) throw new RuleError(`No time profile named ${name}.`, "not-found");
    const users = [...this.rules.values()].filter((r) => r.timeProfile === name).map((r) => r.id);
    if (users.length) throw new RuleError(`Time profile ${name} is used by rule ${users.join(", ")}.`, "conflict");
    await this.write(`DELETE FROM time_profiles WHERE name = $1`, [name]);
    this.profiles.delete(name);
    this.rebuild();
  }
}
