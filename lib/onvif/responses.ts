/**
 * ONVIF response fragments every device answers the same way: the clock
 * (GetSystemDateAndTime), a MediaUri, device information and scopes.
 */
import { xmlEscape } from "./soap.ts";

export function systemDateAndTime(now: number): string {
  const d = new Date(now);
  return (
    `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>` +
    `<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>` +
    `<tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time>` +
    `<tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date>` +
    `</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`
  );
}

export function mediaUri(uri: string, tag = "trt:MediaUri"): string {
  return `<${tag}><tt:Uri>${xmlEscape(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></${tag}>`;
}

export function deviceInformation(d: { manufacturer: string; model: string; firmware: string; serial: string; hardwareId: string }): string {
  return (
    `<tds:GetDeviceInformationResponse><tds:Manufacturer>${xmlEscape(d.manufacturer)}</tds:Manufacturer><tds:Model>${xmlEscape(d.model)}</tds:Model>` +
    `<tds:FirmwareVersion>${xmlEscape(d.firmware)}</tds:FirmwareVersion><tds:SerialNumber>${xmlEscape(d.serial)}</tds:SerialNumber><tds:HardwareId>${xmlEscape(d.hardwareId)}</tds:HardwareId></tds:GetDeviceInformationResponse>`
  );
}

export function scopes(items: string[]): string {
  return (
    `<tds:GetScopesResponse>` +
    items.map((s) => `<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>${xmlEscape(s)}</tt:ScopeItem></tds:Scopes>`).join("") +
    `</tds:GetScopesResponse>`
  );
}

/** One tds:Service entry of GetServices. */
export function service(ns: string, xaddr: string, caps: string, withCaps: boolean): string {
  return (
    `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>${xmlEscape(xaddr)}</tds:XAddr>` +
    (withCaps ? `<tds:Capabilities>${caps}</tds:Capabilities>` : "") +
    `<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>`
  );
}

/** xs:dateTime in UTC with seconds (ONVIF clients parse this form). */
export function xsDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
