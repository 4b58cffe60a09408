/**
 * federation/: the contract between edge and central and nothing else — PKI, the enrollment
 * and renewal protocol, site identity and the MQTT topic root. Both sides import it; it
 * imports neither edge/ nor central/ (only lib/ and third-party packages).
 */
export * from "./identity.ts";
export * from "./pki.ts";
export * from "./enrollment.ts";
