/**
 * What an agent leaves open, and why, in the block it prints at start: where its listeners
 * are bound, whether tokens and TLS guard them, and which ways of running a command on the
 * machine it offers. A function of the agent's settings, so that what it prints is what it
 * does.
 */
export interface Exposure {
  dev: boolean;
  /** The address the listeners are bound to (`-bind`, `bind_addr`). */
  bind: string;
  /** The server role: the API, the Consul-compatible API (with its script checks), DNS. */
  server: boolean;
  /** The client role: tasks, and the node API that serves their logs and `alloc exec`. */
  client: boolean;
  /** ACL tokens checked at the API's door; undefined where this agent does not know (no ACL system wired in). */
  acl?: boolean;
  /** TLS on the listeners; undefined where this agent does not know. */
  tls?: boolean;
  rawExec: boolean;
  /** Script checks registered through the Consul-compatible API (`enable_script_checks`). */
  scriptChecks: boolean;
  /** Script checks in the config dir's definition files (`enable_local_script_checks`, implied by the other). */
  localScriptChecks: boolean;
  /** The listeners of the etcd member this server runs, when it runs one. */
  etcd?: string;
  /** Whether that member speaks TLS and asks every client and peer for a certificate of the cluster's CA (the CA derived from the cluster key). */
  etcdTls?: boolean;
  /** The external etcd cluster this server keeps its state on (`-etcd-endpoints`): whether it reaches it over TLS (`-etcd-cacert`), showing a client certificate (`-etcd-cert`, `-etcd-key`). */
  externalEtcd?: { endpoints: readonly string[]; ca: boolean; clientCert: boolean };
}

/** The block's lines, each already indented as the agent's other start lines are. */
export function exposureLines(e: Exposure): string[] {
  const lines = ["    Security:"];
  const item = (what: string, text: string): void => {
    lines.push(`      ${`${what}:`.padEnd(15)}${text}`);
  };
  const everywhere = e.bind === "0.0.0.0" || e.bind === "::" || e.bind === "[::]";
  const local = e.bind === "127.0.0.1" || e.bind === "localhost" || e.bind === "::1" || e.bind.startsWith("127.");
  item("bound to", everywhere ? `${e.bind}: every interface of this machine (-bind or bind_addr names one)` : local ? `${e.bind}: this machine only` : `${e.bind} (-bind or bind_addr)`);
  if (e.server || e.client) {
    item("ACLs", e.acl === undefined ? "off: this agent checks no tokens (anyone who reaches the API may use all of it)" : e.acl ? "on: requests need a token with the right policy" : `off${e.dev ? " (-dev)" : ' (acl { enabled = false })'}: anyone who reaches the API may use all of it`);
    item("TLS", e.tls === undefined ? "off: plain HTTP" : e.tls ? "on: HTTPS, mutual TLS between agents" : `off${e.dev ? " (-dev)" : ' (tls { enabled = false })'}: plain HTTP`);
  }
  if (e.server) {
    // Who may register a node (and be sent its allocations, their secrets with them): node-identity.ts in the API.
    item("nodes", e.dev ? "this agent's own only (-dev)" : e.tls === true ? "register with a certificate of the cluster's CA naming them (-join-token)" : e.acl === true ? "register with a token with node:write (TLS off: no certificates)" : "anyone who reaches the API may register a node, and be sent allocations and their secrets (ACLs and TLS off)");
  }
  if (e.client) {
    item("raw_exec", e.rawExec ? `on${e.dev ? " (-dev)" : ' (plugin "raw_exec" { config { enabled = true } })'}: jobs may run any command as the agent's user` : 'off (plugin "raw_exec" { config { enabled = true } } turns it on)');
  }
  if (e.server) {
    const checks = e.scriptChecks ? "on for the API and the config dir (enable_script_checks): callers of the API may run commands here" : e.localScriptChecks ? "on for the config dir's files only (enable_local_script_checks); refused through the API" : "off (enable_script_checks, enable_local_script_checks)";
    item("script checks", checks);
    if (e.etcd !== undefined) {
      item("etcd", e.etcdTls === true ? `TLS with client certificates on ${e.etcd}: only the servers' certificates of the cluster's CA reach the state` : `plain HTTP without authentication on ${e.etcd}: whoever reaches them reads and writes the whole state; keep them on a private network`);
    }
    if (e.externalEtcd !== undefined) {
      const x = e.externalEtcd;
      const at = x.endpoints.join(", ");
      item(
        "etcd",
        !x.ca
          ? `${at}, plain HTTP: whoever reaches it reads and writes the whole state; keep it on a private network, or give https:// endpoints with -etcd-cacert`
          : x.clientCert
            ? `${at}, TLS with a client certificate (-etcd-cert): the members' certificates checked against -etcd-cacert`
            : `${at}, TLS without a client certificate: the members' certificates checked against -etcd-cacert; this server shows none (-etcd-cert, -etcd-key)`,
      );
    }
  }
  return lines;
}
