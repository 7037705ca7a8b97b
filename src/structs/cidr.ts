/**
 * CIDR blocks and addresses, as a node's host networks (`host_network { cidr }`) name them.
 * Written without `node:net`: the dashboard bundles these structs too.
 */

/** 4 or 6 for an IPv4 or IPv6 address, 0 for anything else (as `net.isIP`). */
export function ipFamily(address: string): 0 | 4 | 6 {
  if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(address)) return 4;
  const v4tail = /:(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  if (v4tail !== undefined && ipFamily(v4tail) !== 4) return 0;
  const text = v4tail === undefined ? address : `${address.slice(0, -v4tail.length)}0:0`;
  if (!/^[0-9A-Fa-f:]+$/.test(text) || text.split("::").length > 2) return 0;
  const groups = text.split(":").filter((g, i, all) => !(g === "" && (i === 0 || i === all.length - 1 || text.includes("::"))));
  if (groups.some((g) => g.length === 0 || g.length > 4)) return 0;
  return (text.includes("::") ? groups.length < 8 : groups.length === 8) ? 6 : 0;
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
export function parseCidr(cidr: string): { bytes: number[]; prefix: number } | null {
  const slash = cidr.indexOf("/");
  if (slash < 0) return null;
  const bytes = ipBytes(cidr.slice(0, slash));
  const prefixText = cidr.slice(slash + 1);
  if (bytes === null || !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  return prefix > bytes.length * 8 ? null : { bytes, prefix };
}

/** The 4 or 16 bytes of an IP address, or null when it is not one. */
function ipBytes(address: string): number[] | null {
  const family = ipFamily(address);
  if (family === 4) return address.split(".").map(Number);
  if (family !== 6) return null;
  let text = address;
  let tail: number[] = [];
  // An IPv4 tail (::ffff:10.0.0.1) is two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    tail = v4[1].split(".").map(Number);
    text = `${text.slice(0, -v4[1].length)}0:0`;
  }
  const [head = "", rest] = text.split("::");
  const groups = (s: string): string[] => (s === "" ? [] : s.split(":"));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const words = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right].map((g) => parseInt(g, 16));
  const out = words.flatMap((w) => [(w >> 8) & 0xff, w & 0xff]);
  if (tail.length === 4) out.splice(12, 4, ...tail);
  return out;
}
