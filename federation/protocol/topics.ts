/**
 * The control-plane MQTT topic tree under a site's subtree (`outpost/v1/sites/<siteId>/`).
 * Edge → central goes to `up` (one topic, so the broker keeps the edge's order) and `hello`;
 * central → edge goes to `down/…`. The ACL (aedes in central/broker.ts, or Mosquitto's
 * `pattern readwrite outpost/v1/sites/%u/#`) confines each edge to its own subtree.
 */
import { TOPIC_ROOT, siteTopicRoot } from "../identity.ts";

export const topics = {
  /** Edge → central: every outbox message (events, index, tree, health, results), in seq order. */
  up: (siteId: string) => `${siteTopicRoot(siteId)}/up`,
  /** Edge → central: sent directly (not via the outbox) on every connect. */
  hello: (siteId: string) => `${siteTopicRoot(siteId)}/hello`,
  /** Central → edge: cumulative application-level ack. */
  ack: (siteId: string) => `${siteTopicRoot(siteId)}/down/ack`,
  /** Central → edge: desired configuration (retained). */
  config: (siteId: string) => `${siteTopicRoot(siteId)}/down/config`,
  /** Central → edge: commands. */
  command: (siteId: string) => `${siteTopicRoot(siteId)}/down/command`,
  /** Central subscribes to these across all sites. */
  allUp: `${TOPIC_ROOT}/+/up`,
  allHello: `${TOPIC_ROOT}/+/hello`,
};

/** Site id and the part after it, or null when the topic is not a site topic. */
export function parseSiteTopic(topic: string): { siteId: string; rest: string } | null {
  const prefix = TOPIC_ROOT + "/";
  if (!topic.startsWith(prefix)) return null;
  const tail = topic.slice(prefix.length);
  const i = tail.indexOf("/");
  if (i <= 0) return null;
  return { siteId: tail.slice(0, i), rest: tail.slice(i + 1) };
}
