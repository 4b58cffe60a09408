/**
 * The control-plane topics this node subscribes: the up and hello topics of exactly the sites
 * in the partitions it owns (docs/design/central-cluster.md). Per-site subscriptions, not a
 * wildcard filtered after delivery: with a filter every node would receive, decrypt and parse
 * every edge's messages, so adding nodes would not add capacity. A node that owns all 256
 * partitions (a single node, or the last one alive) owns every site, enrolled now or later:
 * the wildcard is that set, so it subscribes the wildcard. Subscriptions follow ownership after
 * every lease round (partitions gained or lost, sites enrolled or revoked meanwhile); a new
 * subscription is made before an old one ends, and a message that arrives twice meanwhile is
 * a duplicate the control plane's watermark drops. Once a site's topics are subscribed anew
 * (taken over), `onGained` listeners hear of it: the control plane asks its edges to re-send.
 */
import type { Logger } from "../../lib/log/index.ts";
import { topics } from "../../federation/protocol/index.ts";
import type { Bus, SiteOwnership } from "../sites/index.ts";
import type { Sql } from "../db/index.ts";
import { NotOwnerError, type Leases } from "./leases.ts";
import { ownedSites } from "./owned-sites.ts";
import { PARTITIONS, partitionOf } from "./partition.ts";

type Receive = (kind: "up" | "hello", topic: string, payload: Buffer) => void;

export class OwnedSiteTopics implements SiteOwnership {
  private readonly subscribed = new Set<string>();
  private bus: Bus | null = null;
  private receive: Receive | null = null;
  private syncing: Promise<void> = Promise.resolve();
  private readonly unlisten: (() => void)[] = [];
  private readonly gainedFns = new Set<(siteIds: string[]) => void | Promise<void>>();
  private readonly mine: ReturnType<typeof ownedSites>;
  /** The owned-sites list the subscriptions were last brought in line with (nothing to do while it is the same). */
  private appliedFor: readonly string[] | null = null;

  constructor(
    private readonly o: {
      leases: Leases;
      /** Ids of the active sites this node knows (the registry). */
      sites: () => readonly string[];
      log?: Logger;
    },
  ) {
    this.mine = ownedSites(o.leases, o.sites);
  }

  owns(siteId: string): boolean {
    return this.o.leases.owns(siteId);
  }

  /** Called when a round lost partitions, with a test for the sites in them. */
  onLost(fn: (lost: (siteId: string) => boolean) => void): void {
    this.unlisten.push(
      this.o.leases.onChange((c) => {
        if (!c.lost.length) return;
        const lost = new Set(c.lost);
        fn((siteId) => lost.has(partitionOf(siteId)));
      }),
    );
  }

  /**
   * The fencing check inside a control-plane batch's transaction (Leases.fenceAll, one
   * statement); a refusal names the sites of the partition this node lost (`sites`).
   */
  async fence(tx: Sql, siteIds: readonly string[]): Promise<void> {
    try {
      await this.o.leases.fenceAll(tx, siteIds);
    } catch (e) {
      if (e instanceof NotOwnerError) throw Object.assign(e, { sites: siteIds.filter((s) => partitionOf(s) === e.partition) });
      throw e;
    }
  }

  /**
   * Called (and awaited) with the sites whose messages this node receives from now on, right
   * after their subscription: what their edges published while no node subscribed is gone.
   */
  onGained(fn: (siteIds: string[]) => void | Promise<void>): void {
    this.gainedFns.add(fn);
  }

  /** The topics subscribed now (tests, metrics). */
  topics(): string[] {
    return [...this.subscribed].sort();
  }

  async subscribe(bus: Bus, receive: Receive): Promise<void> {
    this.bus = bus;
    this.receive = receive;
    this.unlisten.push(this.o.leases.onRound(() => void this.sync()));
    await this.sync();
  }

  /** Brings the subscriptions in line with ownership now; calls never overlap. */
  sync(): Promise<void> {
    this.syncing = this.syncing.then(() => this.apply()).catch((e) => this.o.log?.error("control-plane subscriptions not updated", { err: e as Error }));
    return this.syncing;
  }

  /**
   * From what the last round holds, not from the leases' time left: a round that comes late on
   * a busy host makes owns() refuse messages for a moment, but does not churn subscriptions.
   */
  private wanted(): Set<string> {
    const held = this.o.leases.owned();
    if (held.size === PARTITIONS) return new Set([topics.allUp, topics.allHello]);
    const want = new Set<string>();
    for (const id of this.mine.ids()) want.add(topics.up(id)).add(topics.hello(id));
    return want;
  }

  private async apply(): Promise<void> {
    const bus = this.bus;
    const receive = this.receive;
    if (!bus || !receive) return;
    // Same sites in the same partitions as at the last complete apply: nothing to subscribe or drop.
    const mine = this.mine.ids();
    if (mine === this.appliedFor) return;
    const want = this.wanted();
    const before = new Set(this.subscribed);
    const add = [...want].filter((t) => !this.subscribed.has(t));
    const drop = [...this.subscribed].filter((t) => !want.has(t));
    if (!add.length && !drop.length) {
      this.appliedFor = mine;
      return;
    }
    for (const t of add) {
      const kind = t.endsWith("/hello") ? "hello" : "up";
      await bus.subscribe(t, (topic, payload) => receive(kind, topic, payload));
      this.subscribed.add(t);
    }
    for (const t of drop) {
      await bus.unsubscribe(t);
      this.subscribed.delete(t);
    }
    this.appliedFor = mine;
    this.o.log?.info("control-plane subscriptions changed", { subscribed: add.length, unsubscribed: drop.length, topics: this.subscribed.size });
    const covered = (subs: Set<string>) => new Set(this.o.sites().filter((id) => subs.has(topics.allUp) || subs.has(topics.up(id))));
    const had = covered(before);
    const gained = [...covered(this.subscribed)].filter((id) => !had.has(id));
    if (!gained.length) return;
    for (const fn of this.gainedFns) await Promise.resolve(fn(gained)).catch((e) => this.o.log?.error("listener of sites taken over failed", { err: e as Error }));
  }

  close(): void {
    this.mine.close();
    for (const u of this.unlisten.splice(0)) u();
  }
}
