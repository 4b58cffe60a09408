/**
 * The firmware contract between central and edge: what central offers a site, the states an
 * edge reports for its update, and where the routes live. central/firmware serves it and the
 * edge's agent (firmware/agent) consumes it; neither imports the other.
 */

export const FIRMWARE_FEDERATION_BASE = "/federation/v1/firmware";

export interface Offer {
  campaignId: string;
  version: string;
}

export type SiteUpdateState = "pending" | "downloading" | "installed" | "healthy" | "rolled-back" | "failed";

export interface StatusReport {
  campaignId: string | null;
  version: string;
  state: SiteUpdateState;
  /** 0..100 while downloading. */
  progress?: number;
  reason?: string;
  bytesFetched?: number;
  bytesSaved?: number;
  /** The release running now. */
  running?: string;
}
