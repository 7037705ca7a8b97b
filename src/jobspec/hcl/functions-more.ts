import { createHash, randomUUID } from "node:crypto";
import { ipBytes, ipText, parseDuration } from "../../structs/index.js";
import { arity, list, num, str, type Fn } from "./function-args.js";
import type { Value } from "./value.js";

/**
 * The rest of the pure functions Nomad's jobspec offers (`jobspec2/functions.go`: cty's
 * stdlib, go-cty-funcs' cidr, crypto, encoding and uuid), as they behave there. Each
 * throws a plain Error with a message the evaluator places.
 */

function int(v: Value | undefined, fn: string, n: number): number {
  const x = num(v, fn, n);
  if (!Number.isInteger(x)) throw new Error(`${fn}: argument ${n} must be a whole number, got ${x}`);
  return x;
}
const key = (v: Value): string => JSON.stringify(v);
/** A set as HCL keeps one: its elements distinct, in a stable order. */
function set(items: Value[]): Value[] {
  const seen = new Map<string, Value>();
  for (const v of items) seen.set(key(v), v);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}
function graphemes(s: string): string[] {
  return Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(s), (x) => x.segment);
}
const hash = (algo: string) => (a: Value[]) => (arity(a, algo, 1), createHash(algo).update(str(a[0], algo, 1), "utf8").digest("hex"));

// --- CIDR (go-cty-funcs/cidr, on Go's net and apparentlymart/go-cidr) ---

interface Prefix {
  v6: boolean;
  addr: bigint;
  bits: number;
}
/** An address's bytes as one number, for prefix arithmetic. */
function parseIp(text: string): { v6: boolean; addr: bigint } | undefined {
  const bytes = ipBytes(text);
  return bytes === null ? undefined : { v6: bytes.length === 16, addr: bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n) };
}
function parsePrefix(text: string, fn: string): Prefix {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const ip = m === null ? undefined : parseIp(m[1] ?? "");
  const bits = Number(m?.[2]);
  if (ip === undefined || bits > (ip.v6 ? 128 : 32)) throw new Error(`${fn}: invalid CIDR address ${JSON.stringify(text)}`);
  const width = ip.v6 ? 128 : 32;
  const mask = ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
  return { v6: ip.v6, addr: ip.addr & mask, bits };
}
function showIp(v6: boolean, addr: bigint): string {
  const width = v6 ? 16 : 4;
  return ipText(Uint8Array.from({ length: width }, (_, i) => Number((addr >> BigInt(8 * (width - 1 - i))) & 255n)));
}
function subnet(p: Prefix, newbits: number, netnum: bigint, fn: string): Prefix {
  const width = p.v6 ? 128 : 32;
  const bits = p.bits + newbits;
  if (newbits < 0) throw new Error(`${fn}: newbits must not be negative`);
  if (bits > width) throw new Error(`${fn}: insufficient address space to extend prefix of ${p.bits} by ${newbits}`);
  if (netnum < 0n || netnum >= 1n << BigInt(newbits)) throw new Error(`${fn}: prefix extension of ${newbits} does not accommodate a subnet numbered ${netnum}`);
  return { v6: p.v6, addr: p.addr | (netnum << BigInt(width - bits)), bits };
}

function cidrsubnets(a: Value[]): Value {
  arity(a, "cidrsubnets", 1, Infinity);
  const base = parsePrefix(str(a[0], "cidrsubnets", 1), "cidrsubnets");
  const width = base.v6 ? 128 : 32;
  const out: string[] = [];
  let next = base.addr;
  const end = base.addr + (1n << BigInt(width - base.bits));
  for (let i = 1; i < a.length; i++) {
    const newbits = int(a[i], "cidrsubnets", i + 1);
    if (newbits < 1 || base.bits + newbits > width) throw new Error(`cidrsubnets: argument ${i + 1}: not enough address space for a prefix of ${base.bits + newbits} bits`);
    const size = 1n << BigInt(width - base.bits - newbits);
    const start = ((next + size - 1n) / size) * size;
    if (start + size > end) throw new Error(`cidrsubnets: argument ${i + 1}: not enough remaining address space for a subnet with a prefix of ${base.bits + newbits} bits`);
    out.push(`${showIp(base.v6, start)}/${base.bits + newbits}`);
    next = start + size;
  }
  return out;
}

// --- uuidv5 (RFC 4122, as google/uuid's NewSHA1) ---

const UUID_NS: Readonly<Record<string, string>> = {
  dns: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  url: "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  oid: "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
  x500: "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
};
function uuidv5(a: Value[]): Value {
  arity(a, "uuidv5", 2);
  const ns = str(a[0], "uuidv5", 1);
  const space = UUID_NS[ns] ?? ns;
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(space)) {
    throw new Error(`uuidv5: the namespace must be dns, url, oid, x500 or a UUID, got ${JSON.stringify(ns)}`);
  }
  const h = createHash("sha1").update(Buffer.from(space.replace(/-/g, ""), "hex")).update(str(a[1], "uuidv5", 2), "utf8").digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// --- dates (cty's formatdate and timeadd, on RFC 3339 timestamps) ---

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
interface Stamp {
  ms: number;
  frac: string;
  offsetMin: number;
}
function parseStamp(text: string, fn: string): Stamp {
  const m = RFC3339.exec(text);
  if (m === null) throw new Error(`${fn}: ${JSON.stringify(text)} is not an RFC 3339 timestamp, as in "2024-01-02T15:04:05Z"`);
  const zone = m[8] ?? "Z";
  const offsetMin = /^[Zz]$/.test(zone) ? 0 : (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) - offsetMin * 60_000;
  if (Number.isNaN(ms)) throw new Error(`${fn}: ${JSON.stringify(text)} is not a valid date`);
  return { ms, frac: m[7] ?? "", offsetMin };
}
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
function zone(offsetMin: number, colon: boolean, z: boolean): string {
  if (z && offsetMin === 0) return "Z";
  const a = Math.abs(offsetMin);
  const hh = String(Math.floor(a / 60)).padStart(2, "0");
  const mm = String(a % 60).padStart(2, "0");
  return `${offsetMin < 0 ? "-" : "+"}${hh}${colon ? ":" : ""}${mm}`;
}
function formatdate(a: Value[]): Value {
  arity(a, "formatdate", 2);
  const spec = str(a[0], "formatdate", 1);
  const t = parseStamp(str(a[1], "formatdate", 2), "formatdate");
  const d = new Date(t.ms + t.offsetMin * 60_000);
  const p2 = (n: number): string => String(n).padStart(2, "0");
  const h12 = d.getUTCHours() % 12 === 0 ? 12 : d.getUTCHours() % 12;
  const verbs: Readonly<Record<string, () => string>> = {
    YYYY: () => String(d.getUTCFullYear()).padStart(4, "0"),
    YY: () => p2(d.getUTCFullYear() % 100),
    MMMM: () => MONTHS[d.getUTCMonth()] ?? "",
    MMM: () => (MONTHS[d.getUTCMonth()] ?? "").slice(0, 3),
    MM: () => p2(d.getUTCMonth() + 1),
    M: () => String(d.getUTCMonth() + 1),
    DD: () => p2(d.getUTCDate()),
    D: () => String(d.getUTCDate()),
    EEEE: () => DAYS[d.getUTCDay()] ?? "",
    EEE: () => (DAYS[d.getUTCDay()] ?? "").slice(0, 3),
    hh: () => p2(d.getUTCHours()),
    h: () => String(d.getUTCHours()),
    HH: () => p2(h12),
    H: () => String(h12),
    AA: () => (d.getUTCHours() < 12 ? "AM" : "PM"),
    aa: () => (d.getUTCHours() < 12 ? "am" : "pm"),
    mm: () => p2(d.getUTCMinutes()),
    m: () => String(d.getUTCMinutes()),
    ss: () => p2(d.getUTCSeconds()),
    s: () => String(d.getUTCSeconds()),
    ZZZZZ: () => zone(t.offsetMin, true, false),
    ZZZZ: () => zone(t.offsetMin, false, false),
    ZZZ: () => (t.offsetMin === 0 ? "UTC" : zone(t.offsetMin, false, false)),
    Z: () => zone(t.offsetMin, true, true),
  };
  let out = "";
  for (let i = 0; i < spec.length; ) {
    const c = spec[i] ?? "";
    if (c === "'") {
      // A quoted literal; '' is a quote.
      let j = i + 1;
      let lit = "";
      for (;;) {
        if (j >= spec.length) throw new Error("formatdate: unterminated literal '");
        if (spec[j] === "'") {
          if (spec[j + 1] === "'") {
            lit += "'";
            j += 2;
            continue;
          }
          break;
        }
        lit += spec[j] ?? "";
        j++;
      }
      out += i + 1 === j ? "'" : lit;
      i = j + 1;
      continue;
    }
    if (!/[A-Za-z]/.test(c)) {
      out += c;
      i++;
      continue;
    }
    let j = i;
    while (spec[j] === c) j++;
    const seq = spec.slice(i, j);
    const verb = verbs[seq];
    if (verb === undefined) throw new Error(`formatdate: invalid date format verb ${JSON.stringify(seq)}: this specifier is not supported`);
    out += verb();
    i = j;
  }
  return out;
}
function timeadd(a: Value[]): Value {
  arity(a, "timeadd", 2);
  const t = parseStamp(str(a[0], "timeadd", 1), "timeadd");
  const text = str(a[1], "timeadd", 2);
  const neg = text.startsWith("-");
  const ns = parseDuration(neg || text.startsWith("+") ? text.slice(1) : text);
  if (ns === undefined) throw new Error(`timeadd: ${JSON.stringify(text)} is not a duration, as in "1h30m"`);
  const d = new Date(t.ms + (neg ? -1 : 1) * Math.round(ns / 1e6) + t.offsetMin * 60_000);
  const iso = d.toISOString().slice(0, 19);
  return `${iso}${t.frac}${zone(t.offsetMin, true, true)}`;
}

// --- CSV (cty's csvdecode: the first line names the columns) ---

function csvdecode(a: Value[]): Value {
  arity(a, "csvdecode", 1);
  const text = str(a[0], "csvdecode", 1);
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  const endField = (): void => {
    row.push(field);
    field = "";
  };
  while (i < text.length) {
    const c = text[i] ?? "";
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
      continue;
    }
    if (c === '"' && field === "") quoted = true;
    else if (c === ",") endField();
    else if (c === "\n" || (c === "\r" && text[i + 1] === "\n")) {
      endField();
      rows.push(row);
      row = [];
      if (c === "\r") i++;
    } else field += c;
    i++;
  }
  if (quoted) throw new Error("csvdecode: a quoted field is not closed");
  if (field !== "" || row.length > 0) {
    endField();
    rows.push(row);
  }
  const [head, ...body] = rows;
  if (head === undefined) throw new Error("csvdecode: missing header line");
  return body.map((r, n) => {
    if (r.length !== head.length) throw new Error(`csvdecode: line ${n + 2}: wrong number of fields (${r.length}, the header has ${head.length})`);
    return Object.fromEntries(head.map((h, k) => [h, r[k] ?? ""]));
  });
}

/** Go's url.QueryEscape: every byte but letters, digits and `-_.~` escaped, a space as `+`. */
function urlencode(a: Value[]): Value {
  arity(a, "urlencode", 1);
  return encodeURIComponent(str(a[0], "urlencode", 1))
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/** A Go (RE2) pattern in JavaScript's syntax: `(?P<name>` is `(?<name>`. */
function goRegex(pattern: string, fn: string): RegExp {
  try {
    return new RegExp(pattern.replace(/\(\?P</g, "(?<"), "gu");
  } catch (err) {
    throw new Error(`${fn}: invalid regular expression ${JSON.stringify(pattern)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export const MORE_FUNCTIONS: Readonly<Record<string, Fn>> = {
  chunklist: (a) => {
    arity(a, "chunklist", 2);
    const l = list(a[0], "chunklist", 1);
    const size = int(a[1], "chunklist", 2);
    if (size < 0) throw new Error("chunklist: the size must not be negative");
    if (size === 0) return [l];
    const out: Value[] = [];
    for (let i = 0; i < l.length; i += size) out.push(l.slice(i, i + size));
    return out;
  },
  cidrhost: (a) => {
    arity(a, "cidrhost", 2);
    const p = parsePrefix(str(a[0], "cidrhost", 1), "cidrhost");
    const hostBits = (p.v6 ? 128 : 32) - p.bits;
    const size = 1n << BigInt(hostBits);
    const host = int(a[1], "cidrhost", 2);
    let n = BigInt(host);
    if (n < 0n) n += size;
    if (n < 0n || n >= size) throw new Error(`cidrhost: prefix of ${p.bits} does not accommodate a host numbered ${host}`);
    return showIp(p.v6, p.addr | n);
  },
  cidrnetmask: (a) => {
    arity(a, "cidrnetmask", 1);
    const p = parsePrefix(str(a[0], "cidrnetmask", 1), "cidrnetmask");
    if (p.v6) throw new Error("cidrnetmask: only IPv4 prefixes have a netmask");
    return showIp(false, (0xffffffffn << BigInt(32 - p.bits)) & 0xffffffffn);
  },
  cidrsubnet: (a) => {
    arity(a, "cidrsubnet", 3);
    const p = parsePrefix(str(a[0], "cidrsubnet", 1), "cidrsubnet");
    const s = subnet(p, int(a[1], "cidrsubnet", 2), BigInt(int(a[2], "cidrsubnet", 3)), "cidrsubnet");
    return `${showIp(s.v6, s.addr)}/${s.bits}`;
  },
  cidrsubnets,
  coalescelist: (a) => {
    arity(a, "coalescelist", 1, Infinity);
    a.forEach((v, i) => list(v, "coalescelist", i + 1));
    const found = a.find((v) => Array.isArray(v) && v.length > 0);
    if (found === undefined) throw new Error("coalescelist: no non-empty list among the arguments");
    return found;
  },
  compact: (a) => (arity(a, "compact", 1), list(a[0], "compact", 1).filter((v, i) => v !== null && str(v, "compact", i + 1) !== "")),
  csvdecode,
  formatdate,
  indent: (a) => {
    arity(a, "indent", 2);
    const pad = " ".repeat(Math.max(0, int(a[0], "indent", 1)));
    return str(a[1], "indent", 2).replace(/\n/g, `\n${pad}`);
  },
  log: (a) => (arity(a, "log", 2), Math.log(num(a[0], "log", 1)) / Math.log(num(a[1], "log", 2))),
  md5: hash("md5"),
  parseint: (a) => {
    arity(a, "parseint", 2);
    const text = str(a[0], "parseint", 1);
    const base = int(a[1], "parseint", 2);
    if (base < 2 || base > 62) throw new Error("parseint: the base must be between 2 and 62");
    const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".slice(0, base);
    const neg = text.startsWith("-");
    const body = neg || text.startsWith("+") ? text.slice(1) : text;
    let v = 0n;
    for (const ch of body) {
      const d = base <= 36 ? digits.indexOf(ch.toLowerCase()) : digits.indexOf(ch);
      if (d < 0 || body === "") throw new Error(`parseint: cannot parse ${JSON.stringify(text)} as a base ${base} integer`);
      v = v * BigInt(base) + BigInt(d);
    }
    if (body === "") throw new Error(`parseint: cannot parse ${JSON.stringify(text)} as a base ${base} integer`);
    return Number(neg ? -v : v);
  },
  pow: (a) => (arity(a, "pow", 2), num(a[0], "pow", 1) ** num(a[1], "pow", 2)),
  regex_replace: (a) => {
    arity(a, "regex_replace", 3);
    const re = goRegex(str(a[1], "regex_replace", 2), "regex_replace");
    // Go's ${1} and ${name} are JavaScript's $1 and $<name>.
    const repl = str(a[2], "regex_replace", 3).replace(/\$\{(\d+)\}/g, "$$$1").replace(/\$\{(\w+)\}/g, "$$<$1>");
    return str(a[0], "regex_replace", 1).replace(re, repl);
  },
  setintersection: (a) => {
    arity(a, "setintersection", 1, Infinity);
    const [first, ...rest] = a.map((v, i) => list(v, "setintersection", i + 1));
    return set((first ?? []).filter((v) => rest.every((l) => l.some((x) => key(x) === key(v)))));
  },
  setproduct: (a) => {
    arity(a, "setproduct", 1, Infinity);
    const lists = a.map((v, i) => list(v, "setproduct", i + 1));
    return lists.reduce<Value[][]>((acc, l) => acc.flatMap((prefix) => l.map((v) => [...prefix, v])), [[]]);
  },
  setunion: (a) => (arity(a, "setunion", 1, Infinity), set(a.flatMap((v, i) => list(v, "setunion", i + 1)))),
  sha1: hash("sha1"),
  sha256: hash("sha256"),
  sha512: hash("sha512"),
  signum: (a) => (arity(a, "signum", 1), Math.sign(num(a[0], "signum", 1))),
  strlen: (a) => (arity(a, "strlen", 1), graphemes(str(a[0], "strlen", 1)).length),
  strrev: (a) => (arity(a, "strrev", 1), graphemes(str(a[0], "strrev", 1)).reverse().join("")),
  timeadd,
  trim: (a) => {
    arity(a, "trim", 2);
    const cut = new Set(Array.from(str(a[1], "trim", 2)));
    const s = Array.from(str(a[0], "trim", 1));
    let i = 0;
    let j = s.length;
    while (i < j && cut.has(s[i] ?? "")) i++;
    while (j > i && cut.has(s[j - 1] ?? "")) j--;
    return s.slice(i, j).join("");
  },
  urlencode,
  uuidv4: (a) => (arity(a, "uuidv4", 0), randomUUID()),
  uuidv5,
  zipmap: (a) => {
    arity(a, "zipmap", 2);
    const ks = list(a[0], "zipmap", 1);
    const vs = list(a[1], "zipmap", 2);
    if (ks.length !== vs.length) throw new Error(`zipmap: ${ks.length} keys and ${vs.length} values`);
    return Object.fromEntries(ks.map((k, i) => [str(k, "zipmap", 1), vs[i] ?? null]));
  },
};
