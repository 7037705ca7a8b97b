/**
 * IP addresses and CIDR blocks: the one parser of address text for the whole program (host
 * networks' `cidr`, HCL's cidr functions, certificates' IP SANs, DNS answers). As Go's
 * `net.ParseIP` (since Go 1.17) and Node's `net.isIP`: dotted quads without leading zeros,
 * IPv6 with at most one "::" and an optional IPv4 tail ("::ffff:10.0.0.1"), no zone.
 * Written without `node:net`: the dashboard bundles these structs too.
 */

const OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** The 4 bytes of a dotted quad, or null. */
function quad(text: string): number[] | null {
  const m = QUAD.exec(text);
  return m === null ? null : m.slice(1, 5).map(Number);
}

/** The 4 or 16 bytes of an IP address, or null when the text is not one. */
export function ipBytes(text: string): Uint8Array | null {
  const v4 = quad(text);
  if (v4 !== null) return Uint8Array.from(v4);
  if (!text.includes(":")) return null;
  let hex = text;
  // An IPv4 tail is the two last words.
  const last = text.lastIndexOf(":");
  if (text.includes(".", last)) {
    const tail = quad(text.slice(last + 1));
    if (tail === null) return null;
    const [a = 0, b = 0, c = 0, d = 0] = tail;
    hex = `${text.slice(0, last + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = hex.split("::");
  if (halves.length > 2) return null;
  const words = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = words(halves[0] ?? "");
  const right = halves.length === 2 ? words(halves[1] ?? "") : [];
  if (left === null || right === null) return null;
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right];
  return Uint8Array.from(all.flatMap((w) => [w >> 8, w & 0xff]));
}

/** An address of 4 or 16 bytes as text: the longest run of two or more zero words of IPv6 written "::" (RFC 5952, as Go and Node write it). */
export function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join(".");
  const words = Array.from({ length: 8 }, (_, i) => (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)));
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

/** 4 or 6 for an IPv4 or IPv6 address, 0 for anything else (as `net.isIP`). */
export function ipFamily(address: string): 0 | 4 | 6 {
  const bytes = ipBytes(address);
  return bytes === null ? 0 : bytes.length === 4 ? 4 : 6;
}

/** Whether a CIDR block ("10.0.0.0/8", "fd00::/8") holds an address; false for a malformed block or another family. */
export function cidrContains(cidr: string, address: string): boolean {
  const parsed = parseCidr(cidr);
  const bytes = ipBytes(address);
  if (parsed === null || bytes === null || bytes.length !== parsed.bytes.length) return false;
  let bits = parsed.prefix;
  for (let i = 0; i < bytes.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((bytes[i] as number) & mask) !== ((parsed.bytes[i] as number) & mask)) return false;
  }
  return true;
}

/** A CIDR block's address bytes and prefix length, or null when it is not one. */
export function parseCidr(cidr: string): { bytes: Uint8Array; prefix: number } | null {
  const slash = cidr.indexOf("/");
  if (slash < 0) return null;
  const bytes = ipBytes(cidr.slice(0, slash));
  const prefixText = cidr.slice(slash + 1);
  if (bytes === null || !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  return prefix > bytes.length * 8 ? null : { bytes, prefix };
}
