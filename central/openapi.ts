/** OpenAPI 3.1 description of central's user API as delivered by the trust issue (hand-written). */
const problem = { description: "Error", content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } } };
const certStatus = {
  type: "object",
  properties: {
    kind: { enum: ["ca", "server", "site"] },
    subject: { type: "string" },
    serial: { type: "string" },
    notBefore: { type: "string", format: "date-time" },
    notAfter: { type: "string", format: "date-time" },
    daysLeft: { type: "number" },
    warning: { type: "boolean", description: "expires within pki.expiryWarningDays (default 14)" },
  },
};
const site = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    state: { enum: ["active", "revoked"] },
    online: { type: "boolean" },
    enrolledAt: { type: "string", format: "date-time" },
    revokedAt: { type: ["string", "null"], format: "date-time" },
    lastSeenAt: { type: ["string", "null"], format: "date-time" },
    certificate: { oneOf: [{ $ref: "#/components/schemas/CertStatus" }, { type: "null" }] },
    pendingCertificate: { oneOf: [{ $ref: "#/components/schemas/CertStatus" }, { type: "null" }] },
    warnings: { type: "array", items: { type: "string" } },
  },
};
const json = (schema: unknown) => ({ "application/json": { schema } });
const secured = [{ bearer: [] }, { cookie: [] }];

export const openapi = {
  openapi: "3.1.0",
  info: { title: "Outpost central API", version: "1" },
  components: {
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer" },
      cookie: { type: "apiKey", in: "cookie", name: "outpost_session" },
    },
    schemas: {
      Problem: { type: "object", properties: { type: { type: "string" }, title: { type: "string" }, status: { type: "integer" }, detail: { type: "string" }, instance: { type: "string" } } },
      CertStatus: certStatus,
      Site: site,
    },
  },
  paths: {
    "/api/v1/login": {
      post: {
        summary: "Log in; returns a bearer token and sets an HttpOnly session cookie",
        requestBody: { content: json({ type: "object", required: ["user", "password"], properties: { user: { type: "string" }, password: { type: "string" } } }) },
        responses: { "200": { description: "Session", content: json({ type: "object", properties: { token: { type: "string" }, user: { type: "string" }, role: { type: "string" }, expiresAt: { type: "string", format: "date-time" } } }) }, "401": problem, "400": problem },
      },
    },
    "/api/v1/enrollment-tokens": {
      post: {
        summary: "Create a single-use, expiring enrollment token for a new site",
        security: secured,
        requestBody: { content: json({ type: "object", required: ["site"], properties: { site: { type: "string", description: "site name" }, ttlHours: { type: "number", default: 24 } } }) },
        responses: {
          "201": { description: "Token (shown once)", content: json({ type: "object", properties: { token: { type: "string" }, tokenId: { type: "string" }, siteId: { type: "string" }, siteName: { type: "string" }, expiresAt: { type: "string", format: "date-time" }, enrollUrl: { type: "string" }, command: { type: "string" } } }) },
          "400": problem,
          "401": problem,
        },
      },
    },
    "/api/v1/sites": { get: { summary: "Enrolled sites with online state and certificate expiry", security: secured, responses: { "200": { description: "Sites", content: json({ type: "object", properties: { sites: { type: "array", items: { $ref: "#/components/schemas/Site" } } } }) }, "401": problem } } },
    "/api/v1/sites/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      get: { summary: "One site", security: secured, responses: { "200": { description: "Site", content: json({ $ref: "#/components/schemas/Site" }) }, "404": problem, "401": problem } },
      delete: { summary: "Revoke a site: its sessions are closed within seconds and its certificates refused from then on", security: secured, parameters: [{ name: "reason", in: "query", schema: { type: "string" } }], responses: { "200": { description: "Revoked site", content: json({ $ref: "#/components/schemas/Site" }) }, "404": problem, "401": problem } },
    },
    "/api/v1/health": {
      get: {
        summary: "This process: certificates with expiry (warning 14 days before), site counts",
        responses: { "200": { description: "Health", content: json({ type: "object", properties: { status: { enum: ["ok", "warning"] }, time: { type: "string" }, certificates: { type: "array", items: { $ref: "#/components/schemas/CertStatus" } }, warnings: { type: "array", items: { type: "string" } }, sites: { type: "object" } } }) } },
      },
    },
    "/api/v1/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } } },
  },
} as const;
