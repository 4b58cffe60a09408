/**
 * The user API side of the ONVIF bridge: a signed-in user reads their own ONVIF password and
 * the device URLs of the sites they may see, to onboard central into another VMS.
 */
import { z } from "zod";
import { HttpProblem } from "../../lib/http/problem.ts";
import type { ApiRouter } from "../openapi.ts";
import type { Rights } from "../rights/index.ts";
import type { CentralOnvif } from "./wire.ts";

const OnvifMe = z.object({
  user: z.string(),
  password: z.string().describe("the user's ONVIF password: WS-Security digest, HTTP Digest and RTSP; changes with the central password"),
  devices: z.array(z.object({ site: z.string(), deviceUrl: z.string() })),
});

/** `bridge()` is undefined while the bridge is off (onvif.enabled false): the route then answers 404. */
export function mountOnvifRoutes(api: ApiRouter, o: { bridge: () => CentralOnvif | undefined; rights: () => Rights; sites: () => Promise<{ siteId: string; id: string }[]> }): void {
  api.route(
    { method: "get", path: "/api/v1/onvif/me", summary: "Your ONVIF password and the ONVIF device URL of each site you may see (for adding central to another VMS)", tag: "onvif", rights: { user: "self" }, response: OnvifMe },
    async (c) => {
      const b = o.bridge();
      if (!b) throw new HttpProblem(404, "Not found", "The ONVIF bridge is off (central config onvif.enabled).");
      const s = c.var.session;
      const password = b.credentials.passwordFor(s.user);
      if (!password) throw new HttpProblem(404, "Not found", "No ONVIF password for this user.");
      const cams = await o.sites();
      const sites = [...new Set(cams.filter((x) => o.rights().canSeeCamera(s, x.id, x.siteId)).map((x) => x.siteId))].sort();
      return c.json({ user: s.user, password, devices: sites.map((site) => ({ site, deviceUrl: b.deviceUrl(site) })) });
    },
  );
}
