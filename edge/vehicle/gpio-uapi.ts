/**
 * The Linux GPIO character-device uAPI v2 (include/uapi/linux/gpio.h, Linux ≥ 5.10) as byte
 * layouts: the line request handed to GPIO_V2_GET_LINE_IOCTL, the values read with
 * GPIO_V2_LINE_GET_VALUES_IOCTL, and the 48-byte `struct gpio_v2_line_event` read from the line
 * request's fd. Pure functions (no device), so the layouts are tested without hardware;
 * gpio.ts does the system calls. All fields are little-endian on the architectures Outpost
 * runs on (x86-64, arm64); `__aligned_u64` fields are 8-byte aligned, as the offsets below show.
 */

export const GPIO_V2_LINES_MAX = 64;
const GPIO_MAX_NAME_SIZE = 32;
const GPIO_V2_LINE_NUM_ATTRS_MAX = 10;

export const LINE_FLAG = {
  ACTIVE_LOW: 1n << 1n,
  INPUT: 1n << 2n,
  EDGE_RISING: 1n << 4n,
  EDGE_FALLING: 1n << 5n,
  BIAS_PULL_UP: 1n << 8n,
  BIAS_PULL_DOWN: 1n << 9n,
  BIAS_DISABLED: 1n << 10n,
  EVENT_CLOCK_REALTIME: 1n << 11n,
} as const;

const ATTR_ID_FLAGS = 1;
const ATTR_ID_DEBOUNCE = 3;

/** struct gpio_v2_line_request: offsets[64] u32 (0), consumer[32] (256), config (288, 272 bytes), num_lines (560), event_buffer_size (564), padding[5] (568), fd (588). */
export const LINE_REQUEST_SIZE = 592;
const REQ_CONSUMER = 256;
const REQ_CONFIG = 288;
const REQ_NUM_LINES = 560;
const REQ_EVENT_BUFFER_SIZE = 564;
export const REQ_FD = 588;
/** struct gpio_v2_line_config: flags u64 (0), num_attrs u32 (8), padding[5] (12), attrs[10] of 24 bytes (32). */
const CFG_NUM_ATTRS = 8;
const CFG_ATTRS = 32;
/** struct gpio_v2_line_config_attribute: attr {id u32, padding u32, union u64} (16) + mask u64. */
const ATTR_SIZE = 24;

/** struct gpio_v2_line_event: timestamp_ns u64 (0), id u32 (8), offset u32 (12), seqno u32 (16), line_seqno u32 (20), padding[6]. */
export const LINE_EVENT_SIZE = 48;
export const EVENT_RISING = 1;
export const EVENT_FALLING = 2;

/** struct gpio_v2_line_values: bits u64, mask u64. */
export const LINE_VALUES_SIZE = 16;

/** Linux _IOWR(type, nr, size) on x86-64/arm64 (dir bits 30-31, size 16-29, type 8-15, nr 0-7). */
export const iowr = (type: number, nr: number, size: number): number => ((3 << 30) | (size << 16) | (type << 8) | nr) >>> 0;
export const GPIO_V2_GET_LINE_IOCTL = iowr(0xb4, 0x07, LINE_REQUEST_SIZE);
export const GPIO_V2_LINE_GET_VALUES_IOCTL = iowr(0xb4, 0x0e, LINE_VALUES_SIZE);

export interface LineSpec {
  /** Line offset on the chip. */
  offset: number;
  activeLow: boolean;
  bias: "pull-up" | "pull-down" | "disabled" | "as-is";
  /** Kernel debounce period; 0 = none. */
  debounceUs: number;
}

/**
 * A request for input lines with both edges and realtime timestamps (the event time is the wall
 * clock the video is filed by). Lines that share settings get one attribute each for flags and
 * debounce, masked by their index in the request (≤ 10 attributes in all).
 */
export function encodeLineRequest(consumer: string, lines: readonly LineSpec[], eventBufferSize = 0): Uint8Array {
  if (lines.length < 1 || lines.length > GPIO_V2_LINES_MAX) throw new RangeError(`1..${GPIO_V2_LINES_MAX} lines, got ${lines.length}`);
  const buf = new Uint8Array(LINE_REQUEST_SIZE);
  const v = new DataView(buf.buffer);
  lines.forEach((l, i) => v.setUint32(i * 4, l.offset, true));
  const name = new TextEncoder().encode(consumer).subarray(0, GPIO_MAX_NAME_SIZE - 1);
  buf.set(name, REQ_CONSUMER);
  const base = LINE_FLAG.INPUT | LINE_FLAG.EDGE_RISING | LINE_FLAG.EDGE_FALLING | LINE_FLAG.EVENT_CLOCK_REALTIME;
  const flagsOf = (l: LineSpec) =>
    base | (l.activeLow ? LINE_FLAG.ACTIVE_LOW : 0n) | (l.bias === "pull-up" ? LINE_FLAG.BIAS_PULL_UP : l.bias === "pull-down" ? LINE_FLAG.BIAS_PULL_DOWN : l.bias === "disabled" ? LINE_FLAG.BIAS_DISABLED : 0n);
  // The most common flags are the config's default; the others and every debounce are attributes.
  const byFlags = new Map<bigint, bigint>();
  const byDebounce = new Map<number, bigint>();
  lines.forEach((l, i) => {
    const f = flagsOf(l);
    byFlags.set(f, (byFlags.get(f) ?? 0n) | (1n << BigInt(i)));
    if (l.debounceUs > 0) byDebounce.set(l.debounceUs, (byDebounce.get(l.debounceUs) ?? 0n) | (1n << BigInt(i)));
  });
  const sorted = [...byFlags].sort((a, b) => popcount(b[1]) - popcount(a[1]));
  const defaultFlags = sorted[0]![0];
  const attrs: { id: number; value: bigint | number; mask: bigint }[] = [
    ...sorted.slice(1).map(([f, mask]) => ({ id: ATTR_ID_FLAGS, value: f, mask })),
    ...[...byDebounce].map(([us, mask]) => ({ id: ATTR_ID_DEBOUNCE, value: us, mask })),
  ];
  if (attrs.length > GPIO_V2_LINE_NUM_ATTRS_MAX) throw new RangeError(`these lines need ${attrs.length} distinct settings; the kernel takes at most ${GPIO_V2_LINE_NUM_ATTRS_MAX}`);
  v.setBigUint64(REQ_CONFIG, defaultFlags, true);
  v.setUint32(REQ_CONFIG + CFG_NUM_ATTRS, attrs.length, true);
  attrs.forEach((a, i) => {
    const at = REQ_CONFIG + CFG_ATTRS + i * ATTR_SIZE;
    v.setUint32(at, a.id, true);
    if (a.id === ATTR_ID_DEBOUNCE) v.setUint32(at + 8, Number(a.value), true);
    else v.setBigUint64(at + 8, BigInt(a.value), true);
    v.setBigUint64(at + 16, a.mask, true);
  });
  v.setUint32(REQ_NUM_LINES, lines.length, true);
  v.setUint32(REQ_EVENT_BUFFER_SIZE, eventBufferSize, true);
  v.setInt32(REQ_FD, -1, true);
  return buf;
}

function popcount(x: bigint): number {
  let n = 0;
  for (; x; x >>= 1n) n += Number(x & 1n);
  return n;
}

export interface LineEvent {
  /** Nanoseconds (CLOCK_REALTIME when requested with EVENT_CLOCK_REALTIME). */
  timestampNs: bigint;
  /** true = rising edge = the line became active (active-low already applied by the kernel). */
  active: boolean;
  /** Line offset on the chip. */
  offset: number;
  seqno: number;
  lineSeqno: number;
}

/**
 * Whole events in `bytes` (a read returns whole events; a short tail is returned as `rest` for
 * the next read). An id other than rising/falling is an error: the layout is not what we think.
 */
export function decodeLineEvents(bytes: Uint8Array): { events: LineEvent[]; rest: Uint8Array } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: LineEvent[] = [];
  const whole = bytes.byteLength - (bytes.byteLength % LINE_EVENT_SIZE);
  for (let at = 0; at < whole; at += LINE_EVENT_SIZE) {
    const id = v.getUint32(at + 8, true);
    if (id !== EVENT_RISING && id !== EVENT_FALLING) throw new Error(`gpio line event with id ${id} (expected 1 rising or 2 falling): not a gpio_v2_line_event`);
    events.push({ timestampNs: v.getBigUint64(at, true), active: id === EVENT_RISING, offset: v.getUint32(at + 12, true), seqno: v.getUint32(at + 16, true), lineSeqno: v.getUint32(at + 20, true) });
  }
  return { events, rest: bytes.slice(whole) };
}

/** For tests and tools: the bytes the kernel writes for one event. */
export function encodeLineEvent(e: LineEvent): Uint8Array {
  const buf = new Uint8Array(LINE_EVENT_SIZE);
  const v = new DataView(buf.buffer);
  v.setBigUint64(0, e.timestampNs, true);
  v.setUint32(8, e.active ? EVENT_RISING : EVENT_FALLING, true);
  v.setUint32(12, e.offset, true);
  v.setUint32(16, e.seqno, true);
  v.setUint32(20, e.lineSeqno, true);
  return buf;
}

/** Bit i of `bits` = the value of the request's i-th line (GPIO_V2_LINE_GET_VALUES_IOCTL). */
export function encodeValuesQuery(lineCount: number): Uint8Array {
  const buf = new Uint8Array(LINE_VALUES_SIZE);
  new DataView(buf.buffer).setBigUint64(8, lineCount >= 64 ? (1n << 64n) - 1n : (1n << BigInt(lineCount)) - 1n, true);
  return buf;
}

export function decodeValues(buf: Uint8Array, lineCount: number): boolean[] {
  const bits = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  return Array.from({ length: lineCount }, (_, i) => ((bits >> BigInt(i)) & 1n) === 1n);
}
