/** Certificate serial numbers in the one form we compare; no X.509 parser needed (federation/pki.ts re-exports it). */

/** Lower-case hex without leading zeros: the one serial format we compare (Node prints upper case). */
export function normSerial(s: string): string {
  return s.toLowerCase().replace(/^0+/, "") || "0";
}
