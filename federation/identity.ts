/**
 * Site identity and the MQTT topic layout that trust depends on. A site id is what a
 * certificate names (CN and SAN URI), what an MQTT client id must equal, and the only topic
 * subtree the site may touch. The control plane builds its topics under siteTopicRoot().
 */

/** Root of every federation MQTT topic; "v1" is the topic layout version. */
export const TOPIC_ROOT = "outpost/v1/sites";
export const SITE_URI_PREFIX = "urn:outpost:site:";
/** Lower-case letters, digits and dashes: safe as CN, URI, MQTT client id and topic level. */
export const SITE_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function isSiteId(s: string): boolean {
  return SITE_ID_RE.test(s);
}

export function siteUri(siteId: string): string {
  return SITE_URI_PREFIX + siteId;
}

/** `outpost/v1/sites/<siteId>`: the subtree (with `/#`) a site may publish and subscribe to. */
export function siteTopicRoot(siteId: string): string {
  return `${TOPIC_ROOT}/${siteId}`;
}

/** True when a topic or topic filter stays inside the site's own subtree (no wildcard escapes it). */
export function topicBelongsToSite(topic: string, siteId: string): boolean {
  const root = siteTopicRoot(siteId);
  if (topic === root) return true;
  if (!topic.startsWith(root + "/")) return false;
  // A `+` or `#` is only allowed below the site root, which startsWith already guarantees.
  return !topic.includes("\u0000");
}

/** A site id derived from an admin-given name: slug plus a short random suffix, unique per token. */
export function newSiteId(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48) || "site";
  const suffix = Buffer.from(crypto.getRandomValues(new Uint8Array(3))).toString("hex");
  return `${slug}-${suffix}`;
}
