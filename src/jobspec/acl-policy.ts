import {
  AclPrefixKind,
  ErrorCode,
  RucheError,
  CoarsePolicy,
  NAMESPACE_PATTERN,
  NamespacePolicy,
  NOMAD_NAMESPACE_CAPABILITIES,
  PrefixPolicy,
  expandVariableCapabilities,
  VARIABLE_CAPABILITIES,
  type AclRules,
  type VariablePathRule,
  type NamespaceRule,
  type PrefixRule,
} from "../structs/index.js";
import { hclItems, parseJsonItems, type Item } from "./agent-config.js";
import { formatDiagnostic, sortDiagnostics, type Diagnostic, type Pos } from "./diagnostic.js";
import { hclParser, type ParseResult } from "./hcl/parser.js";
import { show, type Value } from "./hcl/value.js";
import { didYouMean } from "./suggest.js";

export type AclPolicyResult = { ok: true; rules: AclRules } | { ok: false; diagnostics: Diagnostic[] };

let loaded: ((source: string, file: string) => ParseResult) | undefined;
let loading: Promise<void> | undefined;

/** Loads the HCL grammar `parseAclPolicy` needs, once per process; an API server awaits it before it serves. */
export function loadAclPolicyParser(): Promise<void> {
  loading ??= hclParser().then((p) => {
    loaded = p;
  });
  return loading;
}

/**
 * An ACL policy's rules (HCL, or the same as JSON) → `AclRules`. Synchronous, so that stored
 * policies are read as requests come: `loadAclPolicyParser()` must have been awaited once.
 * Rules that are not valid throw `RUCHE_BAD_REQUEST` naming the first mistake at its
 * `file:line:col`, every one in `details`.
 *
 * Nomad's blocks (`namespace "NAME" { policy, capabilities }`, `node { policy }`, `agent {
 * policy }`, `operator { policy }`) and Consul's (`key_prefix`, `key`, `service_prefix`,
 * `service`, `session_prefix`, `session`, `node_prefix`, `node "NAME"`, `query_prefix`, `query`
 * (prepared queries, by name), `event_prefix`, `event` (user events, by name), each `{ policy }`;
 * `operator = "read"`) may sit in one policy. Nomad's `node` block has no label, Consul's has
 * one: the label tells them apart. A namespace block may hold Nomad's `variables { path
 * "GLOB" { capabilities = ["read", "write", "list", "destroy", "deny"] } }`. What Ruche does
 * not have (quotas, CSI plugins, host volumes, Consul's intentions, keyring...) is refused.
 */
export function parseAclPolicy(source: string, filename: string): AclRules {
  const r = readAclPolicy(source, filename);
  if (r.ok) return r.rules;
  const all = r.diagnostics.map(formatDiagnostic);
  const more = all.length > 1 ? ` (and ${all.length - 1} more)` : "";
  throw new RucheError(ErrorCode.BadRequest, `the policy's rules are not valid: ${all[0] ?? ""}${more}`, { path: "Rules", details: all });
}

/** `parseAclPolicy` for a file a user wrote: every mistake as a `Diagnostic` (the CLI prints them). */
export async function checkAclPolicy(source: string, filename: string): Promise<AclPolicyResult> {
  await loadAclPolicyParser();
  return readAclPolicy(source, filename);
}

function readAclPolicy(source: string, filename: string): AclPolicyResult {
  if (loaded === undefined) throw new RucheError(ErrorCode.Internal, "jobspec: parseAclPolicy was called before loadAclPolicyParser() finished");
  const json = filename.endsWith(".json") || source.trimStart().startsWith("{");
  const diags: Diagnostic[] = [];
  let items: Item[];
  if (json) {
    const r = parseJsonItems(source, filename);
    if (!r.ok) return { ok: false, diagnostics: [r.diagnostic.message === "an agent config file in JSON is one object" ? { ...r.diagnostic, message: "a policy in JSON is one object" } : r.diagnostic] };
    items = r.items;
    // A root `plugin` object is read as labelled blocks by the shared JSON reader: say it here.
    if (!items.some((i) => i.name === "plugin") && rootKeys(source).includes("plugin")) diags.push({ file: filename, pos: { line: 1, col: 1 }, path: "plugin", message: REFUSED.plugin ?? "" });
  } else {
    const r = loaded(source, filename);
    if (!r.ok) return { ok: false, diagnostics: r.diagnostics };
    items = hclItems(r.body, filename, diags);
  }
  const rules = decodeRules(items, json, filename, diags);
  if (diags.length === 0 && rules.namespaces.length === 0 && rules.prefixes.length === 0 && rules.node === undefined && rules.agent === undefined && rules.operator === undefined) {
    diags.push({ file: filename, pos: { line: 1, col: 1 }, path: "", message: 'the policy has no rules: write at least one block, such as namespace "default" { policy = "read" }' });
  }
  return diags.length > 0 ? { ok: false, diagnostics: sortDiagnostics(diags) } : { ok: true, rules };
}

/** The keys of a JSON object's text (none when it is not one). */
function rootKeys(source: string): string[] {
  try {
    const v: unknown = JSON.parse(source);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? Object.keys(v) : [];
  } catch {
    return [];
  }
}

/** Blocks of the peers that Ruche does not offer, and why. */
const REFUSED: Readonly<Record<string, string>> = {
  quota: "resource quotas are not offered by Ruche",
  plugin: "Ruche has no CSI plugins",
  host_volume: "Ruche has no host volumes",
  node_pool: "Ruche has no node pools",
  agent_prefix: 'Ruche has one agent rule for every agent; write agent { policy = "read" }',
  keyring: "Ruche has no gossip keyring",
  acl: 'managing tokens and policies needs a management token; there is no acl rule',
  mesh: "Ruche has no service mesh",
  peering: "Ruche has no cluster peering",
  partition: "Ruche has no admin partitions",
  partition_prefix: "Ruche has no admin partitions",
  namespace_prefix: "Ruche has no Consul namespaces; namespace blocks are Nomad's",
};

const PREFIX_KINDS: Readonly<Record<string, { kind: AclPrefixKind; exact: boolean }>> = {
  key_prefix: { kind: AclPrefixKind.Key, exact: false },
  key: { kind: AclPrefixKind.Key, exact: true },
  service_prefix: { kind: AclPrefixKind.Service, exact: false },
  service: { kind: AclPrefixKind.Service, exact: true },
  session_prefix: { kind: AclPrefixKind.Session, exact: false },
  session: { kind: AclPrefixKind.Session, exact: true },
  node_prefix: { kind: AclPrefixKind.ConsulNode, exact: false },
  query_prefix: { kind: AclPrefixKind.Query, exact: false },
  query: { kind: AclPrefixKind.Query, exact: true },
  event_prefix: { kind: AclPrefixKind.Event, exact: false },
  event: { kind: AclPrefixKind.Event, exact: true },
};

const KNOWN = ["namespace", "node", "agent", "operator", ...Object.keys(PREFIX_KINDS), ...Object.keys(REFUSED)];

function decodeRules(items: Item[], json: boolean, file: string, diags: Diagnostic[]): AclRules {
  const rules: AclRules = { namespaces: [], prefixes: [] };
  const err = (pos: Pos, path: string, message: string): void => {
    diags.push({ file, pos, path, message });
  };
  const coarseSeen = new Map<string, Pos>();
  const coarse = (it: Item, name: "node" | "agent" | "operator", level: CoarsePolicy | undefined): void => {
    if (level === undefined) return;
    const first = coarseSeen.get(name);
    if (first !== undefined) {
      err(it.pos, name, `${name} is set twice (first at line ${first.line})`);
      return;
    }
    coarseSeen.set(name, it.pos);
    rules[name] = level;
  };
  for (const it of items) {
    const refused = REFUSED[it.name];
    if (refused !== undefined) {
      err(it.pos, it.name, refused);
      continue;
    }
    if (it.name === "operator" && "value" in it) {
      // Consul's form: operator = "read".
      const level = policyValue(it.value, COARSE, (m) => {
        err(it.pos, "operator", m);
      });
      coarse(it, "operator", level);
      continue;
    }
    if (!KNOWN.includes(it.name)) {
      err(it.pos, it.name, `unknown rule "${it.name}"${didYouMean(it.name, KNOWN)}`);
      continue;
    }
    if (!("body" in it)) {
      err(it.pos, it.name, `"${it.name}" is a block: write ${it.name} ${it.name === "node" || it.name === "agent" ? "" : '"NAME" '}{ policy = "read" }`);
      continue;
    }
    if ((it.name === "agent" || it.name === "operator") && it.labels.length === 0) {
      coarse(it, it.name, policyBlock(it, it.name, COARSE, true, err) as CoarsePolicy | undefined);
      continue;
    }
    if (it.name === "agent" || it.name === "operator") {
      err(it.pos, it.name, `an ${it.name} block takes no label: write ${it.name} { policy = "read" }`);
      continue;
    }
    // Nomad's node { policy } has no label; Consul's node "NAME" { policy } has one.
    if (it.name === "node" && (json ? isAttributes(it.body) : it.labels.length === 0)) {
      coarse(it, "node", policyBlock(it, "node", COARSE, true, err) as CoarsePolicy | undefined);
      continue;
    }
    for (const l of labelled(it, json, err)) {
      if (it.name === "namespace") {
        const rule = namespaceRule(l, json, err);
        if (rule !== undefined) rules.namespaces.push(rule);
        continue;
      }
      const spec = it.name === "node" ? { kind: AclPrefixKind.ConsulNode, exact: true } : PREFIX_KINDS[it.name];
      if (spec === undefined) continue;
      const path = `${it.name}[${JSON.stringify(l.label)}]`;
      const policy = policyBlock({ ...it, pos: l.pos, body: l.body }, path, spec.kind === AclPrefixKind.Key ? PREFIX : PREFIX_NO_LIST, true, err, spec.kind === AclPrefixKind.Service ? SERVICE_REFUSED : {});
      if (policy !== undefined) rules.prefixes.push({ kind: spec.kind, name: l.label, exact: spec.exact, policy: policy as PrefixRule["policy"] });
    }
  }
  return rules;
}

const COARSE: readonly CoarsePolicy[] = Object.values(CoarsePolicy);
const NAMESPACE: readonly NamespacePolicy[] = Object.values(NamespacePolicy);
const PREFIX: readonly string[] = Object.values(PrefixPolicy);
const PREFIX_NO_LIST: readonly string[] = PREFIX.filter((p) => p !== "list");
const SERVICE_REFUSED: Readonly<Record<string, string>> = { intentions: "Ruche has no service mesh intentions" };

type Err = (pos: Pos, path: string, message: string) => void;

interface Labelled {
  label: string;
  pos: Pos;
  body: Item[];
}

/** The blocks a labelled rule stands for: HCL's `key_prefix "app/" { }`; JSON's `"key_prefix": { "app/": { } }`. */
function labelled(it: Item & { body: Item[] }, json: boolean, err: Err): Labelled[] {
  if (!json) {
    const label = it.labels[0];
    if (it.labels.length !== 1 || label === undefined) {
      err(it.pos, it.name, `a ${it.name} block needs one label: ${it.name} "${it.name === "namespace" ? "default" : "NAME"}" { policy = "read" }`);
      return [];
    }
    return [{ label, pos: it.pos, body: it.body }];
  }
  const out: Labelled[] = [];
  if (it.body.length === 0) err(it.pos, it.name, `${it.name} names nothing: write "${it.name}": { "NAME": { "policy": "read" } }`);
  for (const sub of it.body) {
    if (!("body" in sub)) err(sub.pos, `${it.name}.${sub.name}`, `${it.name} holds one object per ${it.name === "namespace" ? "namespace" : "name"}: "${it.name}": { "NAME": { "policy": "read" } }`);
    else out.push({ label: sub.name, pos: sub.pos, body: sub.body });
  }
  return out;
}

/** JSON's `"node": { "policy": "read" }` (or `{}`) is Nomad's block; `"node": { "n1": { ... } }` Consul's rules. */
function isAttributes(body: Item[]): boolean {
  return body.every((b) => "value" in b);
}

/** A block's `policy`, checked against `levels`; the other keys refused. */
function policyBlock(it: Item & { body: Item[] }, path: string, levels: readonly string[], required: boolean, err: Err, refused: Readonly<Record<string, string>> = {}): string | undefined {
  let policy: string | undefined;
  let seen: Pos | undefined;
  for (const sub of it.body) {
    const p = `${path}.${sub.name}`;
    const why = refused[sub.name];
    if (why !== undefined) {
      err(sub.pos, p, why);
      continue;
    }
    if (sub.name !== "policy") {
      err(sub.pos, p, `unknown key "${sub.name}" in ${path}${didYouMean(sub.name, ["policy"])}`);
      continue;
    }
    if (!("value" in sub)) {
      err(sub.pos, p, `policy is an attribute: write policy = "${levels[1] ?? "read"}"`);
      continue;
    }
    if (seen !== undefined) {
      err(sub.pos, p, `policy is set twice (first at line ${seen.line})`);
      continue;
    }
    seen = sub.pos;
    policy = policyValue(sub.value, levels, (m) => {
      err(sub.pos, p, m);
    });
  }
  if (required && seen === undefined) err(it.pos, path, `${path} needs a policy: one of ${levels.map((l) => `"${l}"`).join(", ")}`);
  return policy;
}

function policyValue<T extends string>(v: unknown, levels: readonly T[], err: (m: string) => void): T | undefined {
  if (typeof v === "string" && (levels as readonly string[]).includes(v)) return v as T;
  err(`policy must be one of ${levels.map((l) => `"${l}"`).join(", ")}, got ${typeof v === "string" ? JSON.stringify(v) : show(v as Value)}${typeof v === "string" ? didYouMean(v, levels) : ""}`);
  return undefined;
}

function namespaceRule(l: Labelled, json: boolean, err: Err): NamespaceRule | undefined {
  const path = `namespace[${JSON.stringify(l.label)}]`;
  let ok = true;
  if (!NAMESPACE_PATTERN.test(l.label)) {
    err(l.pos, path, `${JSON.stringify(l.label)} is not a namespace name or glob: letters, digits, "-" and "*", 1 to 128 of them`);
    ok = false;
  }
  let policy: NamespacePolicy | undefined;
  const capabilities: string[] = [];
  let variables: VariablePathRule[] | undefined;
  const seen = new Map<string, Pos>();
  for (const sub of l.body) {
    const p = `${path}.${sub.name}`;
    if (sub.name === "variables") {
      if (variables !== undefined) {
        err(sub.pos, p, "variables is set twice");
        ok = false;
        continue;
      }
      variables = variablesRules(sub, p, json, err);
      if (variables === undefined) ok = false;
      continue;
    }
    if (sub.name !== "policy" && sub.name !== "capabilities") {
      err(sub.pos, p, `unknown key "${sub.name}" in ${path}${didYouMean(sub.name, ["policy", "capabilities"])}`);
      ok = false;
      continue;
    }
    if (!("value" in sub)) {
      err(sub.pos, p, `${sub.name} is an attribute: write ${sub.name} = ${sub.name === "policy" ? '"read"' : '["read-job"]'}`);
      ok = false;
      continue;
    }
    const first = seen.get(sub.name);
    if (first !== undefined) {
      err(sub.pos, p, `${sub.name} is set twice (first at line ${first.line})`);
      ok = false;
      continue;
    }
    seen.set(sub.name, sub.pos);
    if (sub.name === "policy") {
      policy = policyValue(sub.value, NAMESPACE, (m) => {
        err(sub.pos, p, m);
        ok = false;
      });
      continue;
    }
    const v = sub.value;
    if (!Array.isArray(v) || !v.every((c) => typeof c === "string")) {
      err(sub.pos, p, `capabilities must be a list of strings, got ${show(v)}`);
      ok = false;
      continue;
    }
    for (const c of v) {
      if ((NOMAD_NAMESPACE_CAPABILITIES as readonly string[]).includes(c)) capabilities.push(c);
      else {
        err(sub.pos, p, `unknown capability ${JSON.stringify(c)}${didYouMean(c, NOMAD_NAMESPACE_CAPABILITIES)}`);
        ok = false;
      }
    }
  }
  return ok ? { name: l.label, ...(policy === undefined ? {} : { policy }), capabilities, ...(variables === undefined ? {} : { variables }) } : undefined;
}

/**
 * A namespace's `variables { path "GLOB" { capabilities = [...] } }` (JSON: `"variables":
 * { "path": { "GLOB": { "capabilities": [...] } } }`), as Nomad's policy parser checks it:
 * at least one path, none empty or starting with "/", each capability one of read, write,
 * list, destroy, deny (then expanded: read brings list, deny stands alone).
 */
function variablesRules(it: Item, path: string, json: boolean, err: Err): VariablePathRule[] | undefined {
  const example = 'variables { path "*" { capabilities = ["read", "list"] } }';
  if (!("body" in it) || it.labels.length > 0) {
    err(it.pos, path, `variables is a block without a label: write ${example}`);
    return undefined;
  }
  let ok = true;
  const out: VariablePathRule[] = [];
  for (const sub of it.body) {
    if (sub.name !== "path") {
      err(sub.pos, `${path}.${sub.name}`, `unknown key "${sub.name}" in ${path}: a variables block holds path blocks, ${example}`);
      ok = false;
      continue;
    }
    if (!("body" in sub)) {
      err(sub.pos, `${path}.path`, `path is a block: write ${example}`);
      ok = false;
      continue;
    }
    for (const l of labelled(sub, json, err)) {
      const p = `${path}.path[${JSON.stringify(l.label)}]`;
      if (l.label === "") {
        err(l.pos, p, `a variable path rule needs a path: write path "*" or path "project/*"`);
        ok = false;
        continue;
      }
      if (l.label.startsWith("/")) {
        err(l.pos, p, `variable path ${JSON.stringify(l.label)} cannot start with a leading '/'`);
        ok = false;
        continue;
      }
      let caps: string[] | undefined;
      for (const c of l.body) {
        if (c.name !== "capabilities" || !("value" in c)) {
          err(c.pos, `${p}.${c.name}`, `unknown key "${c.name}" in ${p}: write capabilities = ["read", "list"]`);
          ok = false;
          continue;
        }
        const v = c.value;
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
          err(c.pos, `${p}.capabilities`, `capabilities must be a list of strings, got ${show(v)}`);
          ok = false;
          continue;
        }
        const bad = v.filter((x) => !VARIABLE_CAPABILITIES.includes(x));
        for (const b of bad) err(c.pos, `${p}.capabilities`, `unknown variable capability ${JSON.stringify(b)}: one of ${VARIABLE_CAPABILITIES.map((x) => `"${x}"`).join(", ")}${didYouMean(b, VARIABLE_CAPABILITIES)}`);
        if (bad.length > 0) ok = false;
        else caps = expandVariableCapabilities(v);
      }
      if (caps === undefined) {
        if (ok) err(l.pos, p, `${p} needs capabilities: write capabilities = ["read", "list"]`);
        ok = false;
        continue;
      }
      out.push({ path: l.label, capabilities: caps });
    }
  }
  if (ok && out.length === 0) {
    err(it.pos, path, `no variable paths in ${path}: write ${example}`);
    ok = false;
  }
  return ok ? out : undefined;
}
