import type { Diagnostic, Pos } from "./diagnostic.js";
import type { Body } from "./hcl/ast.js";
import { EvalError, evaluate, type Scope } from "./hcl/eval.js";
import { parseHcl } from "./hcl/parser.js";
import { isObject, show, typeName, type Value } from "./hcl/value.js";
import { checkBootstrapExpect, checkEtcdEndpoint, checkRegion, joinAddress } from "./agent-values.js";
import { didYouMean } from "./suggest.js";
import { checkHostNetwork, hostNetworkFlag } from "./host-network-config.js";
import type { ClientHostNetworkConfig } from "../structs/index.js";

/**
 * An agent config file in Nomad's format (HCL, or the same as JSON), read into the
 * `ruche agent` flags it stands for: `data_dir = "/x"` → `-data-dir /x`. The command line
 * then overrides what the files set. What Ruche does not have yet is refused with the
 * file:line:col that asks for it; nothing is skipped silently.
 */
export interface AgentConfigFile {
  /** Flag name (without "-") → its values, in file order. Switches hold "true" / "false". */
  flags: Map<string, string[]>;
  /** One line each for settings accepted but with nothing to do (`consul { address }`). */
  notes: string[];
}

export type AgentConfigResult = { ok: true; config: AgentConfigFile } | { ok: false; diagnostics: Diagnostic[] };

/** A key with its value or its nested keys, HCL and JSON alike. */
export type Item = { name: string; pos: Pos; labels: string[] } & ({ value: Value } | { body: Item[] });

type Kind = "string" | "int" | "number" | "bool" | "strings" | "duration" | "stringmap";
/** A leaf: the flag it sets (undefined when it sets none), or why it is refused. */
type Leaf = { kind: Kind; flag?: string; refuse?: (v: Value) => string | undefined; note?: (v: Value) => string };
type Schema = { [key: string]: Leaf | { block: Schema; labelled?: readonly string[] } | { refuse: string } | { hostVolume: true } | { hostNetwork: true } };

const PLUGIN: Schema = {};
/** Other servers' API addresses, as `server_join { retry_join }` and the older `server { retry_join }` give them. */
const RETRY_JOIN: Leaf = {
  kind: "strings",
  flag: "retry-join",
  refuse: (v) => {
    for (const a of v as string[]) {
      const r = joinAddress(a);
      if (!r.ok) return r.reason;
    }
    return undefined;
  },
};
/** Other regions' servers' API addresses (Consul's `retry_join_wan`), tried until one answers: the federation's seeds. */
const RETRY_JOIN_WAN: Leaf = { kind: "strings", flag: "retry-join-wan", refuse: (v) => RETRY_JOIN.refuse?.(v)?.replace(/^retry_join/, "retry_join_wan") };
const SCHEMA: Schema = {
  region: { kind: "string", flag: "region", refuse: (v) => checkRegion(v as string) },
  datacenter: { kind: "string", flag: "datacenter" },
  // Consul's top-level key, the same as server { retry_join_wan }.
  retry_join_wan: RETRY_JOIN_WAN,
  data_dir: { kind: "string", flag: "data-dir" },
  bind_addr: { kind: "string", flag: "bind" },
  name: { kind: "string", flag: "node" },
  log_level: { kind: "string", flag: "log-level" },
  // Consul's agent options, at the top level as in Consul's config: script checks through the API, and in the config dir's files.
  enable_script_checks: { kind: "bool", flag: "enable-script-checks" },
  enable_local_script_checks: { kind: "bool", flag: "enable-local-script-checks" },
  // Nomad's `acl { enabled }`: every route checks the request's token.
  // Consul's `acl { tokens { dns default } }`: the token the DNS interface answers with (default: its fallback).
  acl: {
    block: {
      enabled: { kind: "bool", flag: "acl-enabled" },
      tokens: {
        block: {
          dns: { kind: "string", flag: "acl-dns-token" },
          default: { kind: "string", flag: "acl-default-token", note: () => "acl { tokens { default } } is the DNS interface's token when no dns token is set; an HTTP request without a token still has the anonymous token's rights" },
          agent: { refuse: "acl { tokens { agent } }: the agent's node registers with -token (RUCHE_TOKEN), or its certificate over TLS" },
          initial_management: { refuse: "acl { tokens { initial_management } }: the first management token comes from ruche acl bootstrap" },
        },
      },
    },
  },
  ports: { block: { http: { kind: "int", flag: "http-port" }, consul: { kind: "int", flag: "consul-port" }, dns: { kind: "int", flag: "dns-port" }, etcd: { kind: "int", flag: "etcd-port" } } },
  server: {
    block: {
      enabled: { kind: "bool", flag: "server" },
      bootstrap_expect: { kind: "int", flag: "bootstrap-expect", refuse: (v) => checkBootstrapExpect(v as number) },
      heartbeat_grace: { kind: "duration", flag: "heartbeat-grace" },
      min_heartbeat_ttl: { kind: "duration", flag: "min-heartbeat-ttl" },
      max_heartbeats_per_second: { kind: "number", flag: "max-heartbeats-per-second" },
      // The servers' shared key (Nomad's gossip key, `nomad operator gossip keyring generate`): Ruche's cluster key.
      encrypt: { kind: "string", flag: "encrypt" },
      join_token: { kind: "string", flag: "join-token" },
      // Another region's server join token: this region's first server takes up that region's CA, one CA for the federation.
      join_wan_token: { kind: "string", flag: "join-wan-token" },
      server_join: {
        block: {
          retry_join: RETRY_JOIN,
          start_join: { refuse: "start_join: Ruche has no one-time join; use retry_join, tried until the servers answer" },
          retry_max: { refuse: "retry_max: Ruche tries the retry_join addresses until they answer; it cannot be bounded yet" },
          retry_interval: { refuse: "retry_interval: Ruche tries the retry_join addresses at its own pace; it cannot be set yet" },
        },
      },
      retry_join: RETRY_JOIN,
      retry_join_wan: RETRY_JOIN_WAN,
      start_join: { refuse: "start_join: Ruche has no one-time join; use server_join { retry_join = [...] }, tried until the servers answer" },
      etcd: {
        block: {
          endpoints: {
            kind: "strings",
            flag: "etcd-endpoints",
            refuse: (v) => {
              const list = v as string[];
              if (list.length === 0) return "endpoints must name at least one etcd client URL";
              return list.map(checkEtcdEndpoint).find((why) => why !== undefined);
            },
          },
          // etcdctl's --cacert, --cert, --key: the TLS of an etcd cluster that speaks it.
          ca_file: { kind: "string", flag: "etcd-cacert" },
          cert_file: { kind: "string", flag: "etcd-cert" },
          key_file: { kind: "string", flag: "etcd-key" },
        },
      },
    },
  },
  client: {
    block: {
      enabled: { kind: "bool", flag: "client" },
      servers: { kind: "strings", flag: "servers" },
      join_token: { kind: "string", flag: "join-token" },
      node_class: { kind: "string", flag: "node-class" },
      meta: { kind: "stringmap", flag: "meta" },
      network_interface: { kind: "string", refuse: (v) => `network_interface ${show(v)}: choosing the node's address by interface is not built yet; use -network-ip` },
      min_dynamic_port: { kind: "int", flag: "min-dynamic-port" },
      max_dynamic_port: { kind: "int", flag: "max-dynamic-port" },
      // Nomad's `host_volume "NAME" { path read_only }`: each becomes -host-volume NAME=PATH[:ro].
      host_volume: { hostVolume: true },
      // Nomad's dir for the dynamic host volumes the "mkdir" plugin makes (volume create).
      host_volumes_dir: { kind: "string", flag: "host-volumes-dir" },
      host_volume_plugin_dir: { refuse: "host_volume_plugin_dir: external host volume plugins are not built; Ruche's clients make dynamic host volumes with the built-in \"mkdir\" plugin" },
      // Nomad's CNI settings: the plugins' directories (":"-separated) and the networks' config dir.
      cni_path: { kind: "string", flag: "cni-path" },
      cni_config_dir: { kind: "string", flag: "cni-config-dir" },
      // Nomad's `host_network "NAME" { cidr interface reserved_ports }`: each becomes -host-network "NAME cidr=... ...".
      host_network: { hostNetwork: true },
      server_join: { refuse: "client server_join: use client { servers = [...] }" },
      artifact: { refuse: "client artifact: the options of artifact downloads (timeouts, size limits, disable_filesystem_isolation) are not configurable yet; remove the block (local sources outside the allocation are read only on nodes that run raw_exec)" },
    },
  },
  limits: { block: { http_max_conns_per_client: { kind: "int", flag: "http-max-conns-per-client" } } },
  // Consul's `dns_config`, for the DNS interface (ports { dns }).
  dns_config: {
    block: {
      node_ttl: { kind: "duration", flag: "dns-node-ttl" },
      service_ttl: { kind: "stringmap", flag: "dns-service-ttl" },
      only_passing: { kind: "bool", flag: "dns-only-passing" },
      enable_truncate: { kind: "bool", flag: "dns-enable-truncate" },
      udp_answer_limit: { kind: "int", flag: "dns-udp-answer-limit" },
      a_record_limit: { kind: "int", flag: "dns-a-record-limit" },
      allow_stale: {
        kind: "bool",
        refuse: (v) => (v === false ? "allow_stale = false: Ruche's DNS answers from the server's own copy of the catalog; consistent DNS reads are not built" : undefined),
        note: () => "dns_config { allow_stale = true } is how Ruche's DNS always answers: from the server's own copy of the catalog",
      },
      max_stale: { kind: "duration", note: (v) => `dns_config { max_stale = ${show(v)} } is not used: Ruche's DNS always answers from the server's own copy of the catalog` },
      soa: { refuse: "soa: the SOA's timers are Consul's defaults (refresh 3600, retry 600, expire 86400, min_ttl 0); they cannot be set yet" },
      recursor_timeout: { refuse: "recursor_timeout: Ruche's DNS does not recurse (no recursors); it answers its domain only" },
      use_cache: { refuse: "use_cache: Ruche's DNS reads the server's catalog in memory; there is no agent cache to use" },
      cache_max_age: { refuse: "cache_max_age: Ruche's DNS reads the server's catalog in memory; there is no agent cache to use" },
      disable_compression: { kind: "bool", note: () => "dns_config { disable_compression } is not used: Ruche writes DNS answers without name compression" },
      enable_additional_node_meta_txt: {
        kind: "bool",
        refuse: (v) => (v === true ? "enable_additional_node_meta_txt = true: Ruche's DNS answers no TXT records of node meta; set it to false" : undefined),
      },
    },
  },
  tls: {
    block: {
      enabled: { kind: "bool", flag: "tls-enabled" },
      http: { kind: "bool", flag: "tls-http" },
      rpc: { kind: "bool", flag: "tls-rpc" },
      ca_file: { kind: "string", flag: "tls-ca-file" },
      cert_file: { kind: "string", flag: "tls-cert-file" },
      key_file: { kind: "string", flag: "tls-key-file" },
      verify_server_hostname: { kind: "bool", flag: "tls-verify-server-hostname" },
      verify_https_client: { kind: "bool", flag: "tls-verify-https-client" },
      rpc_upgrade_mode: { refuse: "rpc_upgrade_mode: a Ruche agent serves TLS or plain HTTP on a port, not both at once" },
      tls_cipher_suites: { refuse: "tls_cipher_suites: Ruche uses Node's TLS 1.2 and 1.3 cipher suites; they cannot be chosen yet" },
      tls_min_version: { refuse: "tls_min_version: Ruche accepts TLS 1.2 and 1.3; the minimum cannot be set yet" },
      tls_prefer_server_cipher_suites: { refuse: "tls_prefer_server_cipher_suites: Ruche uses Node's TLS defaults; this cannot be set yet" },
    },
  },
  plugin: { block: PLUGIN, labelled: ["raw_exec", "docker", "containerd-driver", "podman"] },
  consul: {
    block: {
      address: { kind: "string", note: (v) => `consul { address = ${show(v)} } is not used: Ruche serves Consul's catalog, health and KV API itself (on ports { consul })` },
    },
  },
};
const RAW_EXEC: Schema = { config: { block: { enabled: { kind: "bool", flag: "raw-exec" } } } };
/** nomad-driver-containerd's plugin config. */
const CONTAINERD: Schema = {
  config: {
    block: {
      enabled: { kind: "bool", flag: "containerd-enabled" },
      containerd_runtime: { kind: "string", flag: "containerd-runtime" },
      stats_interval: { kind: "duration", note: (v) => `plugin "containerd-driver" { config { stats_interval = ${show(v)} } } is not used: a task's stats are read each time the client collects them` },
      allow_privileged: { kind: "bool", flag: "containerd-allow-privileged" },
      auth: { block: { username: { kind: "string", flag: "containerd-auth-username" }, password: { kind: "string", flag: "containerd-auth-password" } } },
    },
  },
};
/** nomad-driver-podman's plugin config. */
const PODMAN: Schema = {
  config: {
    block: {
      socket_path: { kind: "string", flag: "podman-socket" },
      volumes: { block: { enabled: { kind: "bool", flag: "podman-volumes" }, selinuxlabel: { refuse: 'plugin "podman" { config { volumes { selinuxlabel } } }: Ruche does not relabel volumes for SELinux; remove it' } } },
      allow_privileged: { kind: "bool", flag: "podman-allow-privileged" },
      gc: { block: { container: { kind: "bool", refuse: (v) => (v === false ? 'plugin "podman" { config { gc { container = false } } }: Ruche always removes a task\'s container once the task is done; remove it' : undefined) } } },
      recover_stopped: { kind: "bool", refuse: (v) => (v === true ? 'plugin "podman" { config { recover_stopped = true } }: Ruche does not restart a stopped container when the agent starts (the task is rescheduled as Nomad does without it); remove it' : undefined) },
    },
  },
};
const DOCKER: Schema = { config: { block: { volumes: { block: { enabled: { kind: "bool", flag: "docker-volumes" } } }, allow_privileged: { kind: "bool", flag: "docker-allow-privileged" }, infra_image: { kind: "string", flag: "docker-infra-image" } } } };

/** Text of one agent config file → the flags it sets, or every mistake in it with file:line:col. */
export async function parseAgentConfig(text: string, file: string): Promise<AgentConfigResult> {
  const diags: Diagnostic[] = [];
  let items: Item[];
  if (file.endsWith(".json")) {
    const r = parseJsonItems(text, file);
    if (!r.ok) return { ok: false, diagnostics: [r.diagnostic] };
    items = r.items;
  } else {
    const r = await parseHcl(text, file);
    if (!r.ok) return { ok: false, diagnostics: r.diagnostics };
    items = hclItems(r.body, file, diags);
  }
  const out: AgentConfigFile = { flags: new Map(), notes: [] };
  decode(items, SCHEMA, "", file, diags, out);
  return diags.length > 0 ? { ok: false, diagnostics: diags } : { ok: true, config: out };
}

function decode(items: Item[], schema: Schema, path: string, file: string, diags: Diagnostic[], out: AgentConfigFile): void {
  const err = (pos: Pos, p: string, message: string): void => {
    diags.push({ file, pos, path: p, message });
  };
  const seen = new Map<string, Pos>();
  for (const it of items) {
    const p = path === "" ? it.name : `${path}.${it.name}`;
    const spec = schema[it.name];
    if (spec === undefined) {
      err(it.pos, p, `unknown key "${it.name}"${path === "" ? "" : ` in ${path}`}${didYouMean(it.name, Object.keys(schema))}`);
      continue;
    }
    if ("refuse" in spec && typeof spec.refuse === "string") {
      err(it.pos, p, spec.refuse);
      continue;
    }
    if ("hostNetwork" in spec) {
      hostNetwork(it, p, file, diags, out);
      continue;
    }
    if ("hostVolume" in spec) {
      hostVolume(it, p, file, diags, out);
      continue;
    }
    if ("block" in spec) {
      if (!("body" in it)) {
        err(it.pos, p, `"${it.name}" is a block: write ${it.name} { ... }`);
        continue;
      }
      if (spec.labelled !== undefined) {
        const label = it.labels[0];
        if (it.labels.length !== 1 || label === undefined) {
          err(it.pos, p, `a ${it.name} block needs one label: ${it.name} "raw_exec" { ... }`);
          continue;
        }
        const inner = label === "raw_exec" ? RAW_EXEC : label === "docker" ? DOCKER : label === "containerd-driver" ? CONTAINERD : label === "podman" ? PODMAN : undefined;
        if (inner === undefined && ["exec", "java", "mock"].includes(label)) {
          err(it.pos, `${p}.${label}`, `plugin "${label}": Ruche's ${label} driver takes no plugin options (Nomad's default_pid_mode, default_ipc_mode and allow_caps are not offered); remove the block`);
          continue;
        }
        if (inner === undefined) {
          err(it.pos, `${p}.${label}`, `plugin "${label}" is not one Ruche has; it has ${spec.labelled.map((l) => `"${l}"`).join(", ")} (and exec, java, mock)`);
          continue;
        }
        decode(it.body, inner, `${p}.${label}`, file, diags, out);
        continue;
      }
      if (it.labels.length > 0) err(it.pos, p, `a ${it.name} block takes no label`);
      decode(it.body, spec.block, p, file, diags, out);
      continue;
    }
    const leaf = spec as Leaf;
    const first = seen.get(it.name);
    if (first !== undefined) {
      err(it.pos, p, `"${it.name}" is set twice (first at line ${first.line})`);
      continue;
    }
    seen.set(it.name, it.pos);
    let v: Value;
    if ("body" in it) {
      if (leaf.kind !== "stringmap") {
        err(it.pos, p, `"${it.name}" is an attribute: write ${it.name} = ..., not a block`);
        continue;
      }
      v = {};
      for (const sub of it.body) {
        if (!("value" in sub)) err(sub.pos, `${p}.${sub.name}`, `${it.name} holds KEY = "value" pairs only`);
        else v[sub.name] = sub.value;
      }
    } else v = it.value;
    const values = checkKind(v, leaf.kind);
    if (typeof values === "string") {
      err(it.pos, p, `${it.name} ${values}, got ${show(v)} (${typeName(v)})`);
      continue;
    }
    const why = leaf.refuse?.(v);
    if (why !== undefined) {
      err(it.pos, p, why);
      continue;
    }
    if (leaf.note !== undefined) out.notes.push(leaf.note(v));
    if (leaf.flag !== undefined) out.flags.set(leaf.flag, [...(leaf.kind === "strings" || leaf.kind === "stringmap" ? (out.flags.get(leaf.flag) ?? []) : []), ...values]);
  }
}

/** Host volume names: they name a node's volume in job files (`source`) and go in a flag as NAME=PATH. */
/** A name, and for a job's `per_alloc` request the allocation's index after it (`data[0]`), as Nomad's. */
const HOST_VOLUME_NAME = /^[A-Za-z0-9_.-]{1,128}(?:\[\d+\])?$/;

/**
 * `host_volume "NAME" { path = "/srv/x" read_only = true }` (Nomad's client option) → the
 * flag value `NAME=/srv/x:ro`. The path must be absolute; whether it exists is checked when
 * the agent starts, on the machine it runs on.
 */
function hostVolume(it: Item, p: string, file: string, diags: Diagnostic[], out: AgentConfigFile): void {
  const err = (pos: Pos, path: string, message: string): void => {
    diags.push({ file, pos, path, message });
  };
  const name = it.labels[0];
  if (!("body" in it) || it.labels.length !== 1 || name === undefined) {
    err(it.pos, p, 'a host_volume is a block with one label, its name: host_volume "data" { path = "/srv/data" }');
    return;
  }
  const at = `${p}.${name}`;
  if (!HOST_VOLUME_NAME.test(name)) {
    err(it.pos, at, `host_volume name "${name}" must be 1 to 128 letters, digits, ".", "_" or "-" (and "[N]" after them for a per_alloc volume)`);
    return;
  }
  let path: string | undefined;
  let readOnly = false;
  for (const sub of it.body) {
    const here = `${at}.${sub.name}`;
    if (sub.name !== "path" && sub.name !== "read_only") {
      err(sub.pos, here, `unknown key "${sub.name}" in host_volume${didYouMean(sub.name, ["path", "read_only"])}`);
      continue;
    }
    if (!("value" in sub)) {
      err(sub.pos, here, `"${sub.name}" is an attribute: write ${sub.name} = ..., not a block`);
      continue;
    }
    if (sub.name === "path") {
      if (typeof sub.value !== "string") err(sub.pos, here, `path must be a string, got ${show(sub.value)} (${typeName(sub.value)})`);
      else if (!sub.value.startsWith("/")) err(sub.pos, here, `path must be an absolute path on the node, got "${sub.value}"`);
      else path = sub.value;
    } else if (typeof sub.value !== "boolean") err(sub.pos, here, `read_only must be true or false, got ${show(sub.value)} (${typeName(sub.value)})`);
    else readOnly = sub.value;
  }
  if (path === undefined) {
    if (!it.body.some((sub) => sub.name === "path")) err(it.pos, at, `host_volume "${name}" needs path = "/absolute/path/on/the/node"`);
    return;
  }
  const values = out.flags.get("host-volume") ?? [];
  if (values.some((v) => v.startsWith(`${name}=`))) {
    err(it.pos, at, `host_volume "${name}" is declared twice`);
    return;
  }
  out.flags.set("host-volume", [...values, `${name}=${path}${readOnly ? ":ro" : ""}`]);
}

/**
 * `host_network "NAME" { cidr = "10.0.0.0/8" interface = "eth1" reserved_ports = "22,80" }`
 * (Nomad's client option) → the flag value `NAME cidr=10.0.0.0/8 interface=eth1
 * reserved_ports=22,80`, each setting checked (`checkHostNetwork`).
 */
function hostNetwork(it: Item, p: string, file: string, diags: Diagnostic[], out: AgentConfigFile): void {
  const err = (pos: Pos, path: string, message: string): void => {
    diags.push({ file, pos, path, message });
  };
  const name = it.labels[0];
  if (!("body" in it) || it.labels.length !== 1 || name === undefined) {
    err(it.pos, p, 'a host_network is a block with one label, its name: host_network "public" { cidr = "203.0.113.0/24" }');
    return;
  }
  const at = `${p}.${name}`;
  const keys = { cidr: "CIDR", interface: "Interface", reserved_ports: "ReservedPorts" } as const;
  const h: ClientHostNetworkConfig = { Name: name, CIDR: "", Interface: "", ReservedPorts: "" };
  let ok = true;
  for (const sub of it.body) {
    const here = `${at}.${sub.name}`;
    const field = (keys as Record<string, (typeof keys)[keyof typeof keys] | undefined>)[sub.name];
    if (field === undefined) {
      err(sub.pos, here, `unknown key "${sub.name}" in host_network${didYouMean(sub.name, Object.keys(keys))}`);
      ok = false;
    } else if (!("value" in sub)) {
      err(sub.pos, here, `"${sub.name}" is an attribute: write ${sub.name} = "...", not a block`);
      ok = false;
    } else if (typeof sub.value !== "string") {
      err(sub.pos, here, `${sub.name} must be a string, got ${show(sub.value)} (${typeName(sub.value)})`);
      ok = false;
    } else h[field] = sub.value;
  }
  if (!ok) return;
  const why = checkHostNetwork(h);
  if (why !== undefined) {
    err(it.pos, at, why);
    return;
  }
  const values = out.flags.get("host-network") ?? [];
  if (values.some((v) => v.split(" ")[0] === name)) {
    err(it.pos, at, `host_network "${name}" is declared twice`);
    return;
  }
  out.flags.set("host-network", [...values, hostNetworkFlag(h)]);
}

/** The flag values a value stands for, or what it should have been. */
function checkKind(v: Value, kind: Kind): string[] | string {
  switch (kind) {
    case "string":
      return typeof v === "string" ? [v] : "must be a string";
    case "duration":
      return typeof v === "string" ? [v] : 'must be a duration string such as "10s"';
    case "int":
      return typeof v === "number" && Number.isInteger(v) ? [String(v)] : "must be a whole number";
    case "number":
      return typeof v === "number" ? [String(v)] : "must be a number";
    case "bool":
      return typeof v === "boolean" ? [String(v)] : "must be true or false";
    case "strings":
      return Array.isArray(v) && v.every((s) => typeof s === "string") ? (v) : "must be a list of strings";
    case "stringmap": {
      if (!isObject(v)) return "must be a map of strings";
      const out: string[] = [];
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== "string") return `must be a map of strings (${k} is not a string)`;
        out.push(`${k}=${s}`);
      }
      return out;
    }
    default: {
      const never: never = kind;
      return never;
    }
  }
}

const EMPTY_SCOPE: Scope = {
  vars: {},
  iterators: new Map(),
  local: (_name: string, pos: Pos): Value => {
    throw new EvalError(pos, "an agent config file has no locals");
  },
};

export function hclItems(body: Body, file: string, diags: Diagnostic[]): Item[] {
  const items: Item[] = [];
  for (const a of body.attributes) {
    try {
      items.push({ name: a.name, pos: a.pos, labels: [], value: evaluate(a.expr, EMPTY_SCOPE) });
    } catch (err) {
      if (!(err instanceof EvalError)) throw err;
      diags.push({ file, pos: err.pos, path: a.name, message: err.message });
    }
  }
  for (const b of body.blocks) items.push({ name: b.type, pos: b.pos, labels: b.labels.map((l) => l.value), body: hclItems(b.body, file, diags) });
  return items.sort((x, y) => x.pos.line - y.pos.line || x.pos.col - y.pos.col);
}

/** JSON with where each key is, as HCL's JSON form: an object is a block, `plugin` objects are keyed by label. */
export function parseJsonItems(text: string, file: string): { ok: true; items: Item[] } | { ok: false; diagnostic: Diagnostic } {
  let i = 0;
  const posAt = (at: number): Pos => {
    const before = text.slice(0, at);
    return { line: before.split("\n").length, col: at - before.lastIndexOf("\n") };
  };
  class JsonError extends Error {}
  const ws = (): void => {
    while (/\s/.test(text[i] ?? "")) i++;
  };
  const fail = (what: string): never => {
    throw new JsonError(`${what} at ${i >= text.length ? "the end of the file" : `"${text[i] ?? ""}"`}`);
  };
  type Node = { pos: Pos; value: Value; entries?: { key: string; pos: Pos; node: Node }[]; elements?: Node[] };
  const value = (): Node => {
    ws();
    const pos = posAt(i);
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: { key: string; pos: Pos; node: Node }[] = [];
      const obj: Record<string, Value> = {};
      ws();
      if (text[i] === "}") {
        i++;
        return { pos, value: obj, entries };
      }
      for (;;) {
        ws();
        const kpos = posAt(i);
        if (text[i] !== '"') fail("expected a key");
        const key = str();
        ws();
        if (text[i] !== ":") fail('expected ":"');
        i++;
        const node = value();
        entries.push({ key, pos: kpos, node });
        obj[key] = node.value;
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return { pos, value: obj, entries };
        }
        fail('expected "," or "}"');
      }
    }
    if (c === "[") {
      i++;
      const arr: Value[] = [];
      const elements: Node[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { pos, value: arr, elements };
      }
      for (;;) {
        const el = value();
        elements.push(el);
        arr.push(el.value);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return { pos, value: arr, elements };
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return { pos, value: str() };
    const m = /^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i));
    if (m === null) return fail("expected a value");
    i += m[0].length;
    return { pos, value: JSON.parse(m[0]) as Value };
  };
  const str = (): string => {
    const m = /^"(?:[^"\\\n]|\\.)*"/.exec(text.slice(i));
    if (m === null) return fail("unterminated string");
    i += m[0].length;
    return JSON.parse(m[0]) as string;
  };
  // A list of objects is the same block written several times (`"plugin": [{"raw_exec": [{"config": [{...}]}]}]`, as Nomad prints it);
  // `plugin` and `host_volume` objects are keyed by their label (`"host_volume": {"data": {"path": "/srv/data"}}`).
  const objects = (n: Node): Node[] | undefined => (n.entries !== undefined ? [n] : n.elements !== undefined && n.elements.length > 0 && n.elements.every((x) => x.entries !== undefined) ? n.elements : undefined);
  const toItems = (n: Node, nested: boolean): Item[] =>
    (n.entries ?? []).flatMap((e): Item[] => {
      const objs = objects(e.node);
      if (objs === undefined || (nested && e.key === "meta" && e.node.entries !== undefined)) return [{ name: e.key, pos: e.pos, labels: [], value: e.node.value }];
      if (e.key === "plugin" || e.key === "host_volume" || e.key === "host_network") return objs.flatMap((o) => (o.entries ?? []).flatMap((pe) => (objects(pe.node) ?? []).map((b): Item => ({ name: e.key, pos: pe.pos, labels: [pe.key], body: toItems(b, true) }))));
      return objs.map((o): Item => ({ name: e.key, pos: e.pos, labels: [], body: toItems(o, true) }));
    });
  try {
    const root = value();
    ws();
    if (i < text.length) fail("expected the end of the file");
    if (root.entries === undefined) return { ok: false, diagnostic: { file, pos: root.pos, path: "", message: "an agent config file in JSON is one object" } };
    return { ok: true, items: toItems(root, false) };
  } catch (err) {
    if (!(err instanceof JsonError)) throw err;
    return { ok: false, diagnostic: { file, pos: posAt(i), path: "", message: `not valid JSON: ${err.message}` } };
  }
}

/** Block types that are lists even when written once, as in Consul's HCL service definitions. */
const LIST_BLOCKS = new Set(["services", "checks"]);

/**
 * An HCL file as the JSON object it stands for: attributes are keys, a block is an object,
 * a block written more than once (and `services`, `checks`) a list of them, a block's
 * label a key around its body. For files whose meaning is defined on their JSON form.
 */
export async function parseHclObject(text: string, file: string): Promise<{ ok: true; value: Record<string, Value> } | { ok: false; diagnostics: Diagnostic[] }> {
  const r = await parseHcl(text, file);
  if (!r.ok) return { ok: false, diagnostics: r.diagnostics };
  const diags: Diagnostic[] = [];
  const toObject = (items: Item[]): Record<string, Value> => {
    const out: Record<string, Value> = {};
    const counts = new Map<string, number>();
    for (const it of items) if ("body" in it) counts.set(it.name, (counts.get(it.name) ?? 0) + 1);
    for (const it of items) {
      if ("value" in it) {
        out[it.name] = it.value;
        continue;
      }
      let v: Value = toObject(it.body);
      for (const label of [...it.labels].reverse()) v = { [label]: v };
      if ((counts.get(it.name) ?? 0) > 1 || LIST_BLOCKS.has(it.name)) {
        const prev = out[it.name];
        out[it.name] = [...(Array.isArray(prev) ? prev : []), v];
      } else out[it.name] = v;
    }
    return out;
  };
  const value = toObject(hclItems(r.body, file, diags));
  return diags.length > 0 ? { ok: false, diagnostics: diags } : { ok: true, value };
}
