import type { Acl, AclPrefixKind, AclResource, NamespaceCap } from "./acl.js";
import { expandNamespacePolicy, type AclRules, type CoarsePolicy, type PrefixPolicy } from "./acl-rules.js";
import type { VariableCap } from "./variables.js";

/** What a management token may do: everything. */
export function managementAcl(): Acl {
  return { management: true, namespace: () => true, allows: () => true, prefix: () => true, variable: () => true };
}

/**
 * A token's policies' rules → what it may do. Pure.
 *
 * - Namespaces, as Nomad's `NewACL`: each block's capabilities (its `policy` expanded, its
 *   `capabilities` added) join those of the blocks of the same name in the other policies;
 *   `deny` in any of them clears the rest and wins. A namespace is decided by its exact
 *   block, else by the closest matching glob (the smallest `len(namespace) - len(glob) +
 *   number of *`; among equals, the last glob in name order, as Nomad's sort leaves them).
 * - `node`, `agent`, `operator`: the most privilege any policy grants, `deny` winning.
 * - Consul's rules, per kind: an exact rule (`key "a/b"`) for the name decides, else the
 *   longest matching prefix; rules on the same name from several policies merge as Consul's
 *   do (`deny` wins, else the most privilege). `write` grants read, list and write; `list`
 *   read and list (keys only); `read` read. No rule: denied.
 * - Variables, as Nomad's: each namespace block's `variables { path "P" { capabilities } }`
 *   is a rule on "<namespace>\0<P>"; a rule whose namespace or path holds `*` is a glob. The
 *   exact rule of a variable decides, else the closest matching glob (as for namespaces);
 *   rules of the same name from several policies add up, `deny` clearing the rest.
 */
export function compileAcl(rules: readonly AclRules[]): Acl {
  const exactNs = new Map<string, Set<string>>();
  const globNs = new Map<string, Set<string>>();
  const coarse: Record<AclResource, CoarsePolicy | undefined> = { node: undefined, agent: undefined, operator: undefined };
  const prefixes = new Map<AclPrefixKind, { exact: Map<string, PrefixPolicy>; prefix: Map<string, PrefixPolicy> }>();
  const exactVars = new Map<string, Set<string>>();
  const globVars = new Map<string, Set<string>>();

  for (const r of rules) {
    for (const ns of r.namespaces) {
      const table = ns.name.includes("*") ? globNs : exactNs;
      let caps = table.get(ns.name);
      if (caps === undefined) {
        caps = new Set();
        table.set(ns.name, caps);
      }
      if (caps.has("deny")) continue;
      for (const cap of [...ns.capabilities, ...(ns.policy === undefined ? [] : expandNamespacePolicy(ns.policy))]) {
        if (cap === "deny") {
          caps.clear();
          caps.add("deny");
          break;
        }
        caps.add(cap);
        for (const implied of HOST_VOLUME_IMPLIES[cap] ?? []) caps.add(implied);
      }
      for (const v of ns.variables ?? []) {
        const key = `${ns.name}\0${v.path}`;
        const vtable = ns.name.includes("*") || v.path.includes("*") ? globVars : exactVars;
        let vcaps = vtable.get(key);
        if (vcaps === undefined) {
          vcaps = new Set();
          vtable.set(key, vcaps);
        }
        addCaps(vcaps, v.capabilities);
      }
    }
    for (const res of ["node", "agent", "operator"] as const) {
      const level = r[res];
      if (level !== undefined) coarse[res] = mostCoarse(coarse[res], level);
    }
    for (const p of r.prefixes) {
      let kind = prefixes.get(p.kind);
      if (kind === undefined) {
        kind = { exact: new Map(), prefix: new Map() };
        prefixes.set(p.kind, kind);
      }
      const table = p.exact ? kind.exact : kind.prefix;
      table.set(p.name, mostPrefix(table.get(p.name), p.policy));
    }
  }

  const globs = [...globNs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const nsCaps = (ns: string): Set<string> | undefined => {
    const exact = exactNs.get(ns);
    if (exact !== undefined) return exact;
    let best: { diff: number; caps: Set<string> } | undefined;
    for (const [pattern, caps] of globs) {
      if (!globMatch(pattern, ns)) continue;
      const diff = ns.length - pattern.length + countStars(pattern);
      if (best === undefined || diff <= best.diff) best = { diff, caps };
    }
    return best?.caps;
  };

  const varGlobs = [...globVars.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const varCaps = (key: string): Set<string> | undefined => exactVars.get(key) ?? closestGlob(varGlobs, key);

  return {
    management: false,
    namespace: (ns: string, cap: NamespaceCap) => nsCaps(ns)?.has(cap) ?? false,
    variable: (ns: string, path: string, cap: VariableCap) => {
      const caps = varCaps(`${ns}\0${path}`);
      return caps !== undefined && !caps.has("deny") && caps.has(cap);
    },
    allows: (resource: AclResource, level: "read" | "write") => {
      const have = coarse[resource];
      return have === "write" || (have === "read" && level === "read");
    },
    prefix: (kind: AclPrefixKind, name: string, level: "read" | "list" | "write") => {
      const k = prefixes.get(kind);
      if (k === undefined) return false;
      const policy = k.exact.get(name) ?? longestPrefix(k.prefix, name);
      return policy !== undefined && grants(policy, level);
    },
  };
}

/** Adds capabilities to a set: `deny` clears the rest and stays alone. */
function addCaps(caps: Set<string>, add: readonly string[]): void {
  if (caps.has("deny")) return;
  for (const cap of add) {
    if (cap === "deny") {
      caps.clear();
      caps.add("deny");
      return;
    }
    caps.add(cap);
  }
}

/** The closest glob matching `name` (the smallest `len(name) - len(glob) + number of *`; among equals, the last in name order), as Nomad's `findClosestMatchingGlob`. */
function closestGlob(globs: readonly [string, Set<string>][], name: string): Set<string> | undefined {
  let best: { diff: number; caps: Set<string> } | undefined;
  for (const [pattern, caps] of globs) {
    if (!globMatch(pattern, name)) continue;
    const diff = name.length - pattern.length + countStars(pattern);
    if (best === undefined || diff <= best.diff) best = { diff, caps };
  }
  return best?.caps;
}

/** Whether a Consul rule's level grants `level` (Consul's `enforce`). */
function grants(policy: PrefixPolicy, level: "read" | "list" | "write"): boolean {
  switch (policy) {
    case "write":
      return true;
    case "list":
      return level !== "write";
    case "read":
      return level === "read";
    case "deny":
      return false;
    default: {
      const never: never = policy;
      return never;
    }
  }
}

function longestPrefix(rules: Map<string, PrefixPolicy>, name: string): PrefixPolicy | undefined {
  let best: string | undefined;
  for (const p of rules.keys()) if (name.startsWith(p) && (best === undefined || p.length > best.length)) best = p;
  return best === undefined ? undefined : rules.get(best);
}

/** The host volume capabilities that imply others, as Nomad's `expandNamespaceCapabilities`. */
const HOST_VOLUME_IMPLIES: Readonly<Record<string, readonly string[]>> = {
  "host-volume-write": ["host-volume-register", "host-volume-create", "host-volume-delete", "host-volume-read"],
  "host-volume-register": ["host-volume-create", "host-volume-read"],
  "host-volume-create": ["host-volume-read"],
};

const COARSE_RANK: Record<CoarsePolicy, number> = { read: 1, write: 2, deny: 3 };
const PREFIX_RANK: Record<PrefixPolicy, number> = { read: 1, list: 2, write: 3, deny: 4 };

/** Nomad's `maxPrivilege`: deny, then write, then read. */
function mostCoarse(a: CoarsePolicy | undefined, b: CoarsePolicy): CoarsePolicy {
  return a === undefined || COARSE_RANK[b] > COARSE_RANK[a] ? b : a;
}

/** Consul's `takesPrecedenceOver`: deny, then write, list, read. */
function mostPrefix(a: PrefixPolicy | undefined, b: PrefixPolicy): PrefixPolicy {
  return a === undefined || PREFIX_RANK[b] > PREFIX_RANK[a] ? b : a;
}

function countStars(s: string): number {
  let n = 0;
  for (const c of s) if (c === "*") n++;
  return n;
}

/** go-glob's `Glob`: `*` stands for any run of characters (none included); nothing else is special. */
export function globMatch(pattern: string, subject: string): boolean {
  if (pattern === "*") return true;
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === subject;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (!subject.startsWith(first)) return false;
  let at = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const found = subject.indexOf(part, at);
    if (found < 0) return false;
    at = found + part.length;
  }
  return subject.length - at >= last.length && subject.endsWith(last);
}
