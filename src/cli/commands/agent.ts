import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { checkBootstrapExpect, checkEtcdEndpoint, checkEtcdTls, checkRegion, formatDiagnostic, joinAddress, parseAgentConfig, parseHostNetworkFlag } from "../../jobspec/index.js";
import { DEFAULT_MAX_CONNS_PER_CLIENT, readExternalEtcdTls, startAgent, type AgentConfig, type AgentTls } from "../../agent/index.js";
import { parseClusterKey } from "../../pki/index.js";
import { DYNAMIC_PORT_RANGE, errorMessage, formatDuration, NS, parseDuration, type ClientHostNetworkConfig, type ClientHostVolumeConfig } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs, UsageError, type Parsed } from "../args.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche agent [-dev] [-server] [-client] [-servers ADDR,...] [-data-dir DIR]
                   [-bind ADDR] [-http-port PORT] [-datacenter DC] [-node NAME]
                   [-node-class CLASS] [-meta KEY=VALUE]... [-network-ip IP] [-sim-nodes N]
                   [-min-dynamic-port N] [-max-dynamic-port N] [-consul-port PORT]
                   [-dns-port PORT] [-etcd-port PORT] [-dns-node-ttl DURATION]
                   [-dns-service-ttl NAME=DURATION]... [-dns-only-passing]
                   [-dns-enable-truncate] [-dns-udp-answer-limit N]
                   [-dns-a-record-limit N] [-config-dir DIR] [-router] [-router-port PORT]
                   [-router-dashboard-port PORT] [-router-config FILE] [-router-workers N]
                   [-http-max-conns-per-client N] [-min-heartbeat-ttl DURATION]
                   [-heartbeat-grace DURATION] [-max-heartbeats-per-second N]
                   [-docker-volumes] [-docker-allow-privileged] [-raw-exec]
                   [-docker-infra-image IMAGE] [-host-volume NAME=PATH[:ro]]... [-host-volumes-dir DIR]
                   [-podman-socket PATH] [-podman-volumes=false] [-podman-allow-privileged]
                   [-cni-path DIR[:DIR]...] [-cni-config-dir DIR]
                   [-enable-script-checks] [-enable-local-script-checks] [-acl-enabled]
                   [-tls-http] [-tls-rpc] [-tls-ca-file FILE] [-tls-cert-file FILE]
                   [-tls-key-file FILE] [-tls-verify-server-hostname]
                   [-tls-verify-https-client] [-tls-enabled=false] [-join-token TOKEN]
                   [-encrypt KEY]
                   [-token SECRET] [-acl-dns-token SECRET] [-acl-default-token SECRET]
                   [-config FILE|DIR]... [-region REGION]
                   [-bootstrap-expect N] [-retry-join ADDR]... [-retry-join-wan ADDR]...
                   [-join-wan-token TOKEN]
                   [-etcd-endpoints URL,...]
                   [-etcd-cacert FILE] [-etcd-cert FILE] [-etcd-key FILE]

  Runs a Ruche agent. -server runs the control plane (state, scheduler, deployments, node
  lifecycle) and its HTTP API; -client runs the node agent, which runs tasks with the
  docker, exec and raw_exec drivers; -dev is both on one machine, bound to 127.0.0.1,
  with state in a temporary directory unless -data-dir is given (tasks of a temporary
  dev agent stop with it; with -data-dir they keep running and the next agent finds them).

  A client-only agent joins the servers given by -servers (host:port of their HTTP API)
  and keeps its state in -data-dir. -meta KEY=VALUE (repeatable) and -node-class are the
  node's metadata and class for constraints. Dynamic ports are chosen in
  [-min-dynamic-port, -max-dynamic-port] (default 20000-32000). A server also serves the
  Consul-compatible catalog and health API on -consul-port (default 8500; 0 for any free
  port, -1 for none), as under its main API, and DNS (NAME.service.consul, A and SRV)
  on -dns-port, UDP and TCP (default 8600). -etcd-port serves etcd's v3 API (gRPC and its
  JSON gateway) and v2 keys API over the same KV store as Consul's, on one TCP port: 2379
  in -dev, none otherwise unless given (a server's machine often runs a real etcd on 2379;
  0 for any free port, -1 for none); with TLS on it speaks TLS only, with the API's
  certificate, CA and verify_https_client. -sim-nodes N adds N simulated nodes that run
  tasks at once (the mock driver), for trying the control plane without machines.
  The DNS flags are Consul's dns_config (also dns_config { node_ttl, service_ttl,
  only_passing, enable_truncate, udp_answer_limit, a_record_limit } in a config file):
  TTLs default to 0, -dns-service-ttl "web-*=30s" covers the services the prefix starts,
  -dns-enable-truncate sets TC on a UDP answer cut to -dns-udp-answer-limit (default 3)
  answers or to the client's buffer, and -dns-a-record-limit bounds A/AAAA answers.

  -docker-volumes lets docker tasks mount absolute host paths with config { volumes }
  (Nomad's docker plugin volumes { enabled = true }); without it only paths relative to
  the task's directory, inside the allocation's directory, are mounted: a job that may
  mount host paths may read and write any of the host's files (the Docker socket too).
  -docker-allow-privileged (Nomad's plugin "docker" { config { allow_privileged = true } })
  lets docker tasks be privileged, share the host's namespaces (network_mode = "host" or
  "container:...", pid_mode, ipc_mode, uts_mode, userns_mode), lift their confinement
  (security_opt seccomp=unconfined, apparmor=unconfined, label=...) and shield themselves
  from the OOM killer (a negative oom_score_adj); off by default, -dev too. cap_add takes
  Nomad's default allow_caps only; runtime runc or nvidia (Nomad's allow_runtimes). -docker-infra-image IMAGE is the image of the pause container
  that holds a bridge group's network (Nomad's plugin "docker" { config { infra_image } };
  default registry.k8s.io/pause-amd64:3.3): on a node without a registry, a local image
  whose command stays up, or is a shell (it is given an open stdin it waits on).

  -podman-socket PATH is the podman service's socket the podman driver talks to (Nomad's
  plugin "podman" { config { socket_path } }; default /run/podman/podman.sock as root,
  $XDG_RUNTIME_DIR/podman/podman.sock otherwise); -podman-volumes=false keeps podman tasks
  from mounting absolute host paths (on by default, as the plugin's volumes { enabled });
  -podman-allow-privileged lets podman tasks do what -docker-allow-privileged lets docker
  tasks do (off by default).

  -cni-path DIR[:DIR]... (Nomad's client { cni_path }, default /opt/cni/bin) is where the
  node finds CNI plugins; -cni-config-dir DIR (cni_config_dir, default /opt/cni/config)
  holds its CNI networks (*.conflist, *.conf, *.json): each is offered to jobs as network
  mode "cni/NAME", NAME the file's "name"; a file that cannot be read is logged and skipped.

  -host-volume NAME=PATH[:ro] (repeatable; Nomad's client { host_volume "NAME" { path =
  "PATH" read_only = true } }) offers the directory PATH to jobs as the host volume NAME:
  a group's volume "x" { type = "host" source = "NAME" } places only on nodes that have it
  (read-write unless the volume asks for read_only), and a task's volume_mount puts it in
  docker and exec tasks (raw_exec tasks run on the host and do not mount). The path must
  exist when the agent starts. -host-volumes-dir DIR (Nomad's client { host_volumes_dir },
  default <data-dir>/host_volumes) is where "volume create" makes dynamic host volumes.

  -host-network "NAME [cidr=BLOCK,...] [interface=DEVICE] [reserved_ports=PORTS]"
  (repeatable; Nomad's client { host_network "NAME" { cidr = "..." interface = "..."
  reserved_ports = "..." } }) declares a host network: the node's addresses inside the
  blocks, on the interface, belong to it, and a job's port with host_network = "NAME" is
  given one of them (docker publishes it there, NOMAD_IP_<label> and services show it);
  a node without such an address does not take the job. The node's own address
  (-network-ip) is the host network "default".

  -raw-exec offers the raw_exec driver, whose tasks run as the agent's user with no
  isolation (Nomad's plugin "raw_exec" { config { enabled = true } }): on in -dev, off
  otherwise, as in Nomad. -enable-script-checks lets services registered through the
  Consul-compatible API carry script checks (commands the agent runs; Consul's
  enable_script_checks), -enable-local-script-checks only those of -config-dir's files
  (enable_local_script_checks): both off by default, -dev too, as in Consul. The agent
  prints at start what it leaves open: its bind address, ACLs, TLS, raw_exec, script checks.

  -token SECRET (default $RUCHE_TOKEN) is the ACL token the agent's node registers
  with: with ACLs on and TLS off, registering a node takes a token with node:write; over
  TLS a node's certificate of the cluster's CA speaks for it instead, and a server's own
  node (-dev's too) needs neither. In -dev only the agent's own node may register.

  -acl-enabled (Nomad's acl { enabled = true }) makes every route of the HTTP API and the
  Consul-compatible API check the request's ACL token (X-Ruche-Token, X-Nomad-Token,
  X-Consul-Token, Authorization: Bearer): on by default, always off in -dev.
  acl { enabled = false } (-acl-enabled=false) turns it off on purpose, warned at start.
  With ACLs on, "ruche acl bootstrap" (once) prints the first management token.
  With ACLs on, DNS answers what the DNS token may read (Consul's acl { tokens { dns } },
  -acl-dns-token; else tokens { default }, -acl-default-token; else the anonymous token,
  which sees nothing unless given policies): service:read and node:read decide.

  TLS (Nomad's tls { http = true, rpc = true, ca_file, cert_file, key_file }, or
  -tls-http -tls-rpc -tls-ca-file FILE -tls-cert-file FILE -tls-key-file FILE): the API,
  the Consul-compatible API and a client's node API serve HTTPS with cert_file (PEM) and
  ask for client certificates signed by ca_file; the agent's own connections (a client
  to its servers, a follower to the leader, a router to the servers, a server to a node's
  agent) are HTTPS, showing cert_file: mutual TLS. http and rpc are one setting in Ruche
  (agents talk over the HTTP API): either turns TLS on for both.
  -tls-verify-server-hostname (verify_server_hostname) makes agents check that a server's
  certificate names server.REGION.ruche (or Nomad's server.REGION.nomad), and lets only
  servers' certificates forward writes;
  without it the chain alone is checked. -tls-verify-https-client (verify_https_client)
  refuses every request without a client certificate signed by the CA, the CLI's too.
  TLS on without the three files uses the cluster's own PKI: a server issues itself a
  certificate of the cluster CA (in -data-dir's tls/, made on its first start; the CLI on
  it trusts it with RUCHE_DATA_DIR); a client-only agent given -join-token TOKEN
  (client { join_token }; "ruche join-token create" on a server prints it) joins the
  -servers, checking their CA against the token before sending its secret, and keeps its
  certificate in -data-dir's tls/, renewed (started again it needs no token, -tls-http is
  enough). Without -join-token, a client-only agent reads the token from
  $RUCHE_JOIN_TOKEN (a server ignores it). -join-token turns TLS on; this PKI's servers'
  names are always checked.
  Without a tls block, every agent but -dev uses the cluster's own PKI: a server as
  above, a client or router agent joins with -join-token. -tls-enabled=false (Ruche's
  tls { enabled = false }) says plain HTTP on purpose, warned at start. -dev serves plain
  HTTP unless told otherwise.
  The servers share one cluster CA: its certificate and its key, encrypted (AES-256-GCM)
  under the cluster key, live in the state (on etcd with -etcd-endpoints), and each server
  keeps the CA's certificate in -data-dir's tls/ca.pem. The first server makes the CA and,
  unless given -encrypt KEY (server { encrypt }, 32 bytes of base64 as "ruche operator
  keygen" or Nomad's "operator gossip keyring generate" print), a cluster key in
  -data-dir's tls/cluster.key (0600). Another server starts with the same -encrypt KEY, or
  with a server join token ("ruche join-token create -role server" on a running server;
  -join-token TOKEN -servers HOST:PORT, server { join_token }): it checks that server's CA
  against the token, receives the key over TLS and keeps it in its tls/cluster.key.
  Servers that run their own etcd members (-bootstrap-expect above 1, or -retry-join)
  derive the CA from the cluster key instead, before their etcd exists: give each the
  same -encrypt KEY (server { encrypt }); with TLS on, one without it does not start.

  -http-max-conns-per-client N bounds the connections one client address may hold open
  on the HTTP API, the Consul-compatible API and DNS over TCP (default 100, as Nomad's
  http_max_conns_per_client; 0 for no limit): past it, an HTTP connection is answered
  429 Too Many Requests and closed, a DNS one closed.

  A server declares a client node disconnected when it has not heartbeated for its TTL
  plus -heartbeat-grace (default 1s). The TTL is -min-heartbeat-ttl (default 2s), longer
  in a cluster so big that its nodes would otherwise heartbeat more than
  -max-heartbeats-per-second (default 50) times a second in all (as Nomad's
  min_heartbeat_ttl, heartbeat_grace and max_heartbeats_per_second). Durations are
  written as "10s", "1m30s", "500ms". A disconnected node's allocations are "unknown" and
  replaced at once; when it comes back, as an agent restarted, each original and its
  replacement are reconciled (see the group's disconnect block).

  Several servers make one cluster (one leader, the others forwarding writes to it), with
  their state on etcd. -bootstrap-expect N: the servers run an etcd of their own, each a
  member (client port = -http-port + 1, peer port = -http-port + 2, on -bind), formed once
  N servers have found each other through -retry-join host:port (the other servers' HTTP
  API; repeatable or a comma list; a host alone is port 4646), as Nomad's bootstrap_expect
  and server_join. -etcd-endpoints http://host:2379,... instead names an etcd cluster that
  exists. One that speaks TLS takes https://host:2379,... endpoints with -etcd-cacert FILE
  (the CA that signed its members' certificates, PEM; checked against each endpoint's host)
  and, when it asks for client certificates (etcd's --client-cert-auth), -etcd-cert FILE
  -etcd-key FILE (server { etcd { ca_file, cert_file, key_file } }, etcdctl's --cacert,
  --cert, --key): every etcd client of the server uses them. The files are read at start;
  TLS files with http:// endpoints, or http:// and https:// mixed, are refused. A server with
  neither (or -bootstrap-expect 1 and no -retry-join, Nomad's single-server config) keeps
  its state in embedded SQLite, alone. -bootstrap-expect needs -server, not
  -dev. -region (default "global": letters, digits, "-", "_") names the servers' region;
  its state lives under /ruche/REGION/ on etcd.

  Regions federate: -retry-join-wan host:port (server { retry_join_wan }, Consul's
  retry_join_wan; repeatable or a comma list; a host alone is port 4646) names another
  region's server's HTTP API, tried until it answers ("ruche server join ADDR" does the
  same at run time). The servers then keep every region's servers in memory, asking one
  live server of each region every 2 s ("ruche server members" lists them all, one that
  stops answering is failed, /v1/regions and /v1/catalog/datacenters name them). With TLS
  on, the regions share one CA and speak mutual TLS, each server checking that the other's
  certificate names server.REGION.ruche of the region it says it is: another region's
  first server starts with -join-wan-token TOKEN (server { join_wan_token }; "ruche
  join-token create -role server" on a server of the first region) and -retry-join-wan,
  checks that server's CA against the token and takes up the CA and the cluster key (its
  other servers then join it as any). A server of another CA is refused, said in the log.
  With TLS off, federation is plain HTTP.

  -config FILE (repeatable) reads Nomad's agent config format, HCL or JSON; a directory
  gives its *.hcl and *.json files in lexical order. A later file overrides an earlier
  one (meta and servers add up); a flag on the command line overrides them all. Keys:
  region, datacenter, data_dir, bind_addr, name, log_level,
  ports { http, consul, dns, etcd } (consul, dns and etcd are Ruche's), server { enabled,
  bootstrap_expect, server_join { retry_join }, retry_join, retry_join_wan (also at the
  top level, as Consul's), etcd { endpoints, ca_file,
  cert_file, key_file },
  heartbeat_grace, min_heartbeat_ttl, max_heartbeats_per_second, encrypt, join_token,
  join_wan_token },
  client { enabled, servers, join_token, node_class, meta, min_dynamic_port,
  max_dynamic_port, host_volume "NAME" { path, read_only } (= -host-volume),
  host_volumes_dir (= -host-volumes-dir),
  cni_path (= -cni-path), cni_config_dir (= -cni-config-dir),
  host_network "NAME" { cidr, interface, reserved_ports } (= -host-network) },
  limits { http_max_conns_per_client }, acl { enabled, tokens { dns,
  default } } (= -acl-enabled, -acl-dns-token, -acl-default-token),
  dns_config { ... } (= -dns-...),
  tls { enabled, http, rpc, ca_file, cert_file, key_file, verify_server_hostname,
  verify_https_client } (= -tls-...),
  plugin "raw_exec" { config { enabled } } (= -raw-exec),
  enable_script_checks, enable_local_script_checks,
  plugin "docker" { config { volumes { enabled } (= -docker-volumes), allow_privileged
  (= -docker-allow-privileged), infra_image (= -docker-infra-image) } },
  plugin "podman" { config { socket_path (= -podman-socket), volumes { enabled }
  (= -podman-volumes, on by default), allow_privileged (= -podman-allow-privileged),
  gc { container = true }, recover_stopped = false } },
  plugin "containerd-driver" { config { enabled (= -containerd-enabled), containerd_runtime
  (= -containerd-runtime), allow_privileged (= -containerd-allow-privileged), auth {
  username password } (= -containerd-auth-username, -containerd-auth-password),
  stats_interval (not used) } }, and
  consul { address } (not used: Ruche serves Consul's API itself). An unknown key, a
  wrong type, and what Ruche does not have yet (network_interface;
  start_join, retry_max, retry_interval) are refused with file:line:col.

  -config-dir DIR holds service definition files (*.json, each {"service": {...}} or
  {"services": [...]}, or the same in HCL in *.hcl: service { name = "web" ... }, with
  the fields of /v1/agent/service/register), registered on
  this agent's node at start; "ruche agent reload" or SIGHUP reads the dir again, adding,
  changing and removing services to match, or changing nothing if a file is wrong.

  -router runs the edge router (on in -dev): an HTTP reverse proxy on -router-port
  (default 8080 in -dev, 80 otherwise; 0 for any free port, -1 for none) that routes to
  the passing instances of services by the rules in their tags (traefik.frontend.rule=
  Host:demo.exemple.com, traefik.http.routers.NAME.rule=...), rebuilt on each
  change of the catalog, and its read-only dashboard and metrics on 127.0.0.1
  -router-dashboard-port (default 8081; -1 for none). -router-config FILE (Traefik's
  traefik.toml, v1 or v2, or .yaml/.yml/.json; a key the router does not build is refused
  with its line) sets its entrypoints (TLS certificates), the dashboard's address ([web],
  [api]), the KV provider ([consul], providers.consul: routers and services under
  traefik/ in Ruche's KV), domain, default rule, exposedByDefault, constraints
  such as "tag==exposed", retries, limits, and "failover": "nearest" (a service with no
  passing instance here is served from the nearest other datacenter that has some; per
  service, the tag traefik.ruche.failover=nearest). -router-workers N serves the entrypoints
  from N processes sharing their ports (one per core for the most requests/s; default 1).
  Without -server, the router follows the catalog of -servers.
`;

/**
 * The agent's config from its command line and the -config files it names, every value
 * checked, and the notes to print once it runs. Starts nothing.
 */
export async function agentConfigFromArgs(argv: readonly string[], cwd: string, env: Readonly<Record<string, string | undefined>> = {}): Promise<{ config: AgentConfig; notes: string[] }> {
  const p = parseArgs(argv, {
    dev: { value: false },
    server: { value: false },
    client: { value: false },
    servers: { value: true, repeat: true },
    "data-dir": { value: true },
    bind: { value: true },
    "http-port": { value: true },
    "sim-nodes": { value: true },
    datacenter: { value: true },
    node: { value: true },
    "node-class": { value: true },
    meta: { value: true, repeat: true },
    "network-ip": { value: true },
    "min-dynamic-port": { value: true },
    "consul-port": { value: true },
    "dns-port": { value: true },
    "etcd-port": { value: true },
    "dns-node-ttl": { value: true },
    "dns-service-ttl": { value: true, repeat: true },
    "dns-only-passing": { value: false },
    "dns-enable-truncate": { value: false },
    "dns-udp-answer-limit": { value: true },
    "dns-a-record-limit": { value: true },
    "max-dynamic-port": { value: true },
    "log-level": { value: true },
    "config-dir": { value: true },
    router: { value: false },
    "router-port": { value: true },
    "router-dashboard-port": { value: true },
    "router-config": { value: true },
    "router-workers": { value: true },
    "http-max-conns-per-client": { value: true },
    "min-heartbeat-ttl": { value: true },
    "heartbeat-grace": { value: true },
    "max-heartbeats-per-second": { value: true },
    "docker-volumes": { value: false },
    "raw-exec": { value: false },
    "docker-allow-privileged": { value: false },
    "docker-infra-image": { value: true },
    "podman-socket": { value: true },
    "podman-volumes": { value: false },
    "podman-allow-privileged": { value: false },
    "containerd-enabled": { value: false },
    "containerd-runtime": { value: true },
    "containerd-allow-privileged": { value: false },
    "containerd-auth-username": { value: true },
    "containerd-auth-password": { value: true },
    "host-volume": { value: true, repeat: true },
    "host-volumes-dir": { value: true },
    "cni-path": { value: true },
    "cni-config-dir": { value: true },
    "host-network": { value: true, repeat: true },
    "enable-script-checks": { value: false },
    "enable-local-script-checks": { value: false },
    "acl-enabled": { value: false },
    "acl-dns-token": { value: true },
    "acl-default-token": { value: true },
    "tls-enabled": { value: false },
    "tls-http": { value: false },
    "tls-rpc": { value: false },
    "tls-ca-file": { value: true },
    "tls-cert-file": { value: true },
    "tls-key-file": { value: true },
    "tls-verify-server-hostname": { value: false },
    "tls-verify-https-client": { value: false },
    "join-token": { value: true },
    "join-wan-token": { value: true },
    encrypt: { value: true },
    token: { value: true },
    config: { value: true, repeat: true },
    region: { value: true },
    "bootstrap-expect": { value: true },
    "retry-join": { value: true, repeat: true },
    "retry-join-wan": { value: true, repeat: true },
    "etcd-endpoints": { value: true, repeat: true },
    "etcd-cacert": { value: true },
    "etcd-cert": { value: true },
    "etcd-key": { value: true },
  });
  if (p.positional.length > 0) throw new UsageError(`unexpected argument "${p.positional[0] ?? ""}"`);
  const notes = await applyConfigFiles(p, cwd);
  const dev = flagBool(p, "dev");
  const one = (name: string): string | undefined => flagValues(p, name).at(-1);
  const port = Number(one("http-port") ?? "4646");
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`-http-port must be a port number, got "${one("http-port") ?? ""}"`);
  const sim = Number(one("sim-nodes") ?? "0");
  if (!Number.isInteger(sim) || sim < 0 || sim > 10_000) throw new UsageError(`-sim-nodes must be a whole number up to 10000, got "${one("sim-nodes") ?? ""}"`);
  const server = dev || flagBool(p, "server");
  const client = dev || flagBool(p, "client");
  const router = dev || flagBool(p, "router") || one("router-port") !== undefined;
  if (!server && !client && !router) throw new UsageError("an agent needs a role: -dev, -server, -client, -router, or several of them");
  if (!dev && (server || client) && one("data-dir") === undefined) throw new UsageError("an agent outside -dev needs -data-dir");
  const servers = flagValues(p, "servers").flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  if (!server && servers.length === 0) throw new UsageError(`${client ? "a client-only" : "a router-only"} agent needs -servers host:port of a server's HTTP API`);
  for (const s of servers) if (!/^[^\s/:]+:\d+$/.test(s)) throw new UsageError(`-servers takes host:port, got "${s}"`);
  const meta: Record<string, string> = {};
  for (const kv of flagValues(p, "meta")) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new UsageError(`-meta takes KEY=VALUE, got "${kv}"`);
    meta[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const hostVolumes = await hostVolumeFlags(flagValues(p, "host-volume"), cwd);
  const hostNetworks = hostNetworkFlags(flagValues(p, "host-network"));
  const portFlag = (name: string, dflt: number): number => {
    const v = one(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1024 || n > 65535) throw new UsageError(`-${name} must be a port number from 1024 to 65535, got "${v}"`);
    return n;
  };
  const minPort = portFlag("min-dynamic-port", DYNAMIC_PORT_RANGE.min);
  const maxPort = portFlag("max-dynamic-port", DYNAMIC_PORT_RANGE.max);
  if (minPort > maxPort) throw new UsageError(`-min-dynamic-port (${minPort}) is above -max-dynamic-port (${maxPort})`);
  const consulPort = Number(one("consul-port") ?? "8500");
  if (!Number.isInteger(consulPort) || consulPort < -1 || consulPort > 65535) throw new UsageError(`-consul-port must be a port number, 0 or -1, got "${one("consul-port") ?? ""}"`);
  const dnsPort = Number(one("dns-port") ?? "8600");
  const etcdPort = Number(one("etcd-port") ?? (dev ? "2379" : "-1"));
  if (!Number.isInteger(etcdPort) || etcdPort < -1 || etcdPort > 65535) throw new UsageError(`-etcd-port must be a port number, 0 or -1, got "${one("etcd-port") ?? ""}"`);
  if (!Number.isInteger(dnsPort) || dnsPort < -1 || dnsPort > 65535) throw new UsageError(`-dns-port must be a port number, 0 or -1, got "${one("dns-port") ?? ""}"`);
  const routerPort = router ? Number(one("router-port") ?? (dev ? "8080" : "80")) : -1;
  if (!Number.isInteger(routerPort) || routerPort < -1 || routerPort > 65535) throw new UsageError(`-router-port must be a port number, 0 or -1, got "${one("router-port") ?? ""}"`);
  const dashboardPort = Number(one("router-dashboard-port") ?? "8081");
  if (!Number.isInteger(dashboardPort) || dashboardPort < -1 || dashboardPort > 65535) throw new UsageError(`-router-dashboard-port must be a port number, 0 or -1, got "${one("router-dashboard-port") ?? ""}"`);
  const routerConfig = one("router-config");
  const routerWorkers = Number(one("router-workers") ?? "1");
  if (!Number.isInteger(routerWorkers) || routerWorkers < 1 || routerWorkers > 64) throw new UsageError(`-router-workers must be a whole number from 1 to 64, got "${one("router-workers") ?? ""}"`);
  const maxConns = Number(one("http-max-conns-per-client") ?? String(DEFAULT_MAX_CONNS_PER_CLIENT));
  if (!Number.isInteger(maxConns) || maxConns < 0 || maxConns > 1_000_000) throw new UsageError(`-http-max-conns-per-client must be a whole number, 0 for no limit, got "${one("http-max-conns-per-client") ?? ""}"`);
  const heartbeat = heartbeatFlags(one, server);
  const bind = one("bind") ?? (dev ? "127.0.0.1" : "0.0.0.0");
  const configDir = one("config-dir");
  if (configDir !== undefined && !server) throw new UsageError("-config-dir is read by an agent with the server role (-dev or -server) for now");
  const cluster = clusterFlags(one, (name) => flagValues(p, name), { dev, server });
  const config: AgentConfig = {
    dev,
    server,
    client,
    servers,
    ...cluster,
    ...(await etcdTlsFlags(one, cwd)),
    dataDir: one("data-dir"),
    bind,
    httpPort: port,
    simNodes: sim,
    datacenter: one("datacenter") ?? "dc1",
    nodeName: one("node") ?? "",
    nodeClass: one("node-class") ?? "",
    meta,
    networkIp: one("network-ip") ?? (bind === "0.0.0.0" ? "127.0.0.1" : bind),
    dynamicPorts: { min: minPort, max: maxPort },
    dockerVolumes: flagBool(p, "docker-volumes"),
    dockerAllowPrivileged: flagBool(p, "docker-allow-privileged"),
    ...optionalString("dockerInfraImage", one("docker-infra-image")),
    // nomad-driver-podman's defaults: its socket, host volumes allowed; privileged tasks only where allowed (Ruche's gate).
    podman: {
      volumesEnabled: p.flags.has("podman-volumes") ? flagBool(p, "podman-volumes") : true,
      allowPrivileged: flagBool(p, "podman-allow-privileged"),
      ...optionalString("socketPath", one("podman-socket")),
    },
    // nomad-driver-containerd's default is enabled; privileged tasks and the host's network
    // wait for -containerd-allow-privileged, as docker's do for -docker-allow-privileged.
    containerd: {
      enabled: p.flags.has("containerd-enabled") ? flagBool(p, "containerd-enabled") : true,
      allowPrivileged: flagBool(p, "containerd-allow-privileged"),
      ...optionalString("runtime", one("containerd-runtime")),
      ...(one("containerd-auth-username") === undefined ? {} : { auth: { username: one("containerd-auth-username") ?? "", password: one("containerd-auth-password") ?? "" } }),
    },
    ...optionalString("cniPath", one("cni-path")),
    ...optionalString("hostVolumesDir", one("host-volumes-dir") === undefined ? undefined : resolve(cwd, one("host-volumes-dir") ?? "")),
    ...optionalString("cniConfigDir", one("cni-config-dir") === undefined ? undefined : resolve(cwd, one("cni-config-dir") ?? "")),
    ...(Object.keys(hostVolumes).length === 0 ? {} : { hostVolumes }),
    ...(Object.keys(hostNetworks).length === 0 ? {} : { hostNetworks }),
    // On in -dev unless the config turns it off; otherwise off unless it turns it on (Nomad's default).
    rawExec: p.flags.has("raw-exec") ? flagBool(p, "raw-exec") : dev,
    enableScriptChecks: flagBool(p, "enable-script-checks"),
    enableLocalScriptChecks: flagBool(p, "enable-local-script-checks"),
    // On unless the config turns it off (acl { enabled = false }), and always off in -dev.
    acl: { enabled: !dev && (p.flags.has("acl-enabled") ? flagBool(p, "acl-enabled") : true), ...dnsTokenFlags(one("acl-dns-token"), one("acl-default-token")) },
    ...tlsFlags(p, cwd, notes, { server, dev }, env),
    httpMaxConnsPerClient: maxConns,
    heartbeat,
    consulPort,
    dnsPort,
    ...(etcdPort >= 0 ? { etcdPort } : {}),
    ...dnsConfigFlags(p, one),
    configDir: configDir === undefined ? undefined : resolve(cwd, configDir),
    router: { port: routerPort, dashboardPort, configFile: routerConfig === undefined ? undefined : resolve(cwd, routerConfig), workers: routerWorkers },
    logLevel: one("log-level") ?? "warn",
    ...tokenFlag(one("token")),
    ...encryptFlag(one("encrypt"), server),
  };
  return { config, notes };
}

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const { config, notes } = await agentConfigFromArgs(argv, io.cwd, io.env);
  // The node's ACL token (registering without TLS, with ACLs on, takes node:write): -token, else $RUCHE_TOKEN.
  const envToken = io.env.RUCHE_TOKEN?.trim();
  if (config.token === undefined && envToken !== undefined && envToken !== "") config.token = envToken;
  const agent = await startAgent(config, (l) => {
    io.out(l);
  });
  for (const n of notes) io.out(`==> ${n}\n`);
  // SIGHUP reads the config dir again, as Consul's agent does; a bad file is reported and changes nothing.
  const hup = (): void => {
    agent.reload().then(
      (r) => {
        io.out(`==> Reloaded the config dir: ${r.registered.length} services registered, ${r.deregistered.length} deregistered, ${r.unchanged.length} unchanged\n`);
      },
      (err: unknown) => {
        io.err(`==> Reload failed, nothing changed: ${errorMessage(err)}\n`);
      },
    );
  };
  process.on("SIGHUP", hup);
  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      done();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  process.off("SIGHUP", hup);
  io.out("==> Caught signal: shutting down\n");
  await agent.stop();
  return Exit.Ok;
}

/**
 * Reads the -config files (a directory: its *.hcl and *.json in lexical order) into `p`'s
 * flags: a later file overrides an earlier one, `meta`, `servers` and `host_volume` add up, and a flag on
 * the command line overrides them all. Returns the notes to print once the agent runs.
 */
export async function applyConfigFiles(p: Parsed, cwd: string): Promise<string[]> {
  const files: string[] = [];
  for (const given of flagValues(p, "config")) {
    const path = resolve(cwd, given);
    const st = await stat(path).catch((err: unknown) => {
      throw new UsageError(`-config ${given}: ${errorMessage(err)}`);
    });
    if (st.isDirectory()) {
      const names = (await readdir(path)).filter((n) => n.endsWith(".hcl") || n.endsWith(".json")).sort();
      files.push(...names.map((n) => join(path, n)));
    } else files.push(path);
  }
  const merged = new Map<string, string[]>();
  const notes: string[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const r = await parseAgentConfig(await readFile(file, "utf8"), file);
    if (!r.ok) {
      problems.push(...r.diagnostics.map(formatDiagnostic));
      continue;
    }
    notes.push(...r.config.notes);
    for (const [flag, values] of r.config.flags) merged.set(flag, flag === "meta" || flag === "servers" || flag === "host-volume" || flag === "host-network" ? [...(merged.get(flag) ?? []), ...values] : values);
  }
  if (problems.length > 0) throw new UsageError(`the agent config is refused:\n  ${problems.join("\n  ")}`);
  for (const [flag, values] of merged) if (!p.flags.has(flag)) p.flags.set(flag, values);
  return notes;
}

/**
 * -host-network "NAME [cidr=BLOCK,...] [interface=DEVICE] [reserved_ports=PORTS]"
 * (repeatable; the config's `client { host_network "NAME" { cidr interface reserved_ports } }`):
 * the node's host networks. A later one of the same name replaces an earlier one.
 */
export function hostNetworkFlags(values: readonly string[]): Record<string, ClientHostNetworkConfig> {
  const out: Record<string, ClientHostNetworkConfig> = {};
  for (const v of values) {
    const h = parseHostNetworkFlag(v);
    if (typeof h === "string") throw new UsageError(h.startsWith("-host-network") ? h : `-host-network: ${h}`);
    out[h.Name] = h;
  }
  return out;
}

/**
 * -host-volume NAME=PATH[:ro] (repeatable; the config's `client { host_volume "NAME" { path
 * read_only } }`): the node's host volumes. A later one of the same name replaces an earlier
 * one; a relative path is taken from the working directory; each path must exist, as Nomad's
 * client checks at start.
 */
export async function hostVolumeFlags(values: readonly string[], cwd: string): Promise<Record<string, ClientHostVolumeConfig>> {
  const out: Record<string, ClientHostVolumeConfig> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    const name = v.slice(0, eq);
    let path = v.slice(eq + 1);
    if (eq <= 0 || path === "" || !/^[A-Za-z0-9_.-]{1,128}(?:\[\d+\])?$/.test(name)) throw new UsageError(`-host-volume takes NAME=PATH or NAME=PATH:ro (NAME of letters, digits, ".", "_", "-", and "[N]" after them for a per_alloc volume), got "${v}"`);
    const readOnly = path.endsWith(":ro");
    if (readOnly || path.endsWith(":rw")) path = path.slice(0, -3);
    path = resolve(cwd, path);
    const st = await stat(path).catch((err: unknown) => {
      throw new UsageError(`host volume "${name}": its path ${path} cannot be used: ${errorMessage(err)}`);
    });
    if (!st.isDirectory() && !st.isFile()) throw new UsageError(`host volume "${name}": its path ${path} is neither a directory nor a file`);
    out[name] = { Name: name, Path: path, ReadOnly: readOnly };
  }
  return out;
}

/**
 * The agent's region and the settings that make several servers one cluster: -region (any
 * region name; "global" by default), -bootstrap-expect N (servers that form a managed etcd
 * cluster once N of them are up; not with -dev, which runs one server alone),
 * -retry-join host:port (the other servers' API; repeatable, or a comma list), -retry-join-wan
 * host:port (other regions' servers, the federation's seeds; the same forms) and
 * -etcd-endpoints http://host:port,... (an existing etcd cluster the servers share; https://
 * with -etcd-cacert, and -etcd-cert and -etcd-key together or neither, see `checkEtcdTls`).
 * All but -region need the server role; the etcd TLS files are not for -dev.
 */
export function clusterFlags(one: (name: string) => string | undefined, many: (name: string) => string[], role: { dev: boolean; server: boolean }): Pick<AgentConfig, "region" | "bootstrapExpect" | "retryJoin" | "etcdEndpoints" | "retryJoinWan"> {
  const region = one("region") ?? "global";
  const badRegion = checkRegion(region);
  if (badRegion !== undefined) throw new UsageError(`-region: ${badRegion}`);
  const list = (name: string): string[] => many(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
  const expectText = one("bootstrap-expect");
  const joins = list("retry-join");
  const endpoints = list("etcd-endpoints");
  const etcdFiles = { cacert: one("etcd-cacert"), cert: one("etcd-cert"), key: one("etcd-key") };
  const tlsGiven = (["cacert", "cert", "key"] as const).filter((k) => etcdFiles[k] !== undefined).map((k) => `etcd-${k}`);
  const wanJoins = list("retry-join-wan");
  const given = [expectText === undefined ? [] : ["bootstrap-expect"], joins.length > 0 ? ["retry-join"] : [], wanJoins.length > 0 ? ["retry-join-wan"] : [], endpoints.length > 0 ? ["etcd-endpoints"] : [], tlsGiven].flat();
  if (given.length > 0 && !role.server) throw new UsageError(`-${given[0] ?? ""} is a server setting: it needs the server role (-server)`);
  if (tlsGiven.length > 0 && role.dev) throw new UsageError(`-${tlsGiven[0] ?? ""} is the TLS of an external etcd cluster, and -dev keeps its state alone: run -server with -data-dir and -etcd-endpoints instead of -dev`);
  let bootstrapExpect = 0;
  if (expectText !== undefined) {
    bootstrapExpect = /^\s*\d+\s*$/.test(expectText) ? Number(expectText) : Number.NaN;
    if (checkBootstrapExpect(bootstrapExpect) !== undefined) throw new UsageError(`-bootstrap-expect must be a whole number from 1, got "${expectText}"`);
    if (role.dev) throw new UsageError("-bootstrap-expect is for servers that form a cluster, and -dev runs one server alone: run -server with -data-dir instead of -dev");
  }
  const retryJoin = joins.map((a) => {
    const r = joinAddress(a);
    if (!r.ok) throw new UsageError(`-retry-join: ${r.reason}`);
    return r.address;
  });
  const retryJoinWan = wanJoins.map((a) => {
    const r = joinAddress(a);
    if (!r.ok) throw new UsageError(`-retry-join-wan: ${r.reason.replace(/^retry_join/, "retry_join_wan")}`);
    return r.address;
  });
  for (const e of endpoints) {
    const why = checkEtcdEndpoint(e);
    if (why !== undefined) throw new UsageError(`-etcd-endpoints: ${why}`);
  }
  const badTls = checkEtcdTls(endpoints, etcdFiles);
  if (badTls !== undefined) throw new UsageError(badTls);
  return { region, bootstrapExpect, retryJoin, etcdEndpoints: endpoints.map((e) => e.replace(/\/$/, "")), retryJoinWan };
}

/**
 * The external etcd's TLS from -etcd-cacert, -etcd-cert and -etcd-key (their use checked by
 * `clusterFlags`), the files read now: one missing, unreadable or not PEM of what it says is
 * refused naming its flag and its path.
 */
export async function etcdTlsFlags(one: (name: string) => string | undefined, cwd: string): Promise<Pick<AgentConfig, "etcdTls">> {
  const cacert = one("etcd-cacert");
  if (cacert === undefined) return {};
  const cert = one("etcd-cert");
  const key = one("etcd-key");
  try {
    return { etcdTls: await readExternalEtcdTls({ cacert: resolve(cwd, cacert), ...(cert === undefined || key === undefined ? {} : { cert: resolve(cwd, cert), key: resolve(cwd, key) }) }) };
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

/** The server's cluster key from -encrypt (`server { encrypt }`): 32 bytes of base64, checked here; a server setting. */
function encryptFlag(key: string | undefined, server: boolean): { encrypt?: string } {
  if (key === undefined) return {};
  if (!server) throw new UsageError("-encrypt (server { encrypt }) is a server setting: it needs the server role (-server)");
  try {
    parseClusterKey(key, "-encrypt");
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  return { encrypt: key.trim() };
}

/** Consul's `acl { tokens { dns default } }` (-acl-dns-token, -acl-default-token): the DNS interface's token; an empty one is a mistake, said. */
function dnsTokenFlags(dns: string | undefined, dflt: string | undefined): { tokens?: { dns?: string; default?: string } } {
  for (const [flag, v] of [["acl-dns-token", dns], ["acl-default-token", dflt]] as const) {
    if (v !== undefined && v.trim() === "") throw new UsageError(`-${flag} is empty: give the secret of an ACL token (acl { tokens { ${flag === "acl-dns-token" ? "dns" : "default"} } })`);
  }
  if (dns === undefined && dflt === undefined) return {};
  return { tokens: { ...(dns === undefined ? {} : { dns: dns.trim() }), ...(dflt === undefined ? {} : { default: dflt.trim() }) } };
}

/** The node's ACL token from -token; an empty one is a mistake, said. */
function tokenFlag(token: string | undefined): { token?: string } {
  if (token === undefined) return {};
  if (token.trim() === "") throw new UsageError("-token is empty: give the ACL token the node registers with (a token with node:write)");
  return { token: token.trim() };
}

/** The server's heartbeat settings from -min-heartbeat-ttl, -heartbeat-grace and -max-heartbeats-per-second; each one not given keeps its default. */
/** Consul's `dns_config` (`dns_config { ... }` in a config file): only what is given, the DNS server's defaults being Consul's. */
export function dnsConfigFlags(p: Parsed, one: (name: string) => string | undefined): Pick<AgentConfig, "dnsConfig"> {
  const out: NonNullable<AgentConfig["dnsConfig"]> = {};
  const seconds = (name: string, v: string): number => {
    const ns = parseDuration(v.trim());
    if (ns === undefined) throw new UsageError(`-${name} must be a duration such as "10s" or "1m", got "${v}"`);
    return Math.floor(ns / NS.second);
  };
  const nodeTtl = one("dns-node-ttl");
  if (nodeTtl !== undefined) out.nodeTtlSeconds = seconds("dns-node-ttl", nodeTtl);
  const services = flagValues(p, "dns-service-ttl");
  if (services.length > 0) {
    const ttls: Record<string, number> = {};
    for (const kv of services) {
      const eq = kv.lastIndexOf("=");
      const name = kv.slice(0, Math.max(0, eq)).trim().toLowerCase();
      if (eq <= 0 || name === "") throw new UsageError(`-dns-service-ttl takes NAME=DURATION (NAME may end in "*"), got "${kv}"`);
      if (name.slice(0, -1).includes("*")) throw new UsageError(`-dns-service-ttl: "*" may only end a service name, got "${name}"`);
      ttls[name] = seconds("dns-service-ttl", kv.slice(eq + 1));
    }
    out.serviceTtlSeconds = ttls;
  }
  if (p.flags.has("dns-only-passing")) out.onlyPassing = flagBool(p, "dns-only-passing");
  if (p.flags.has("dns-enable-truncate")) out.enableTruncate = flagBool(p, "dns-enable-truncate");
  const count = (name: string, min: number): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min || n > 65535) throw new UsageError(`-${name} must be a whole number from ${min} to 65535, got "${v}"`);
    return n;
  };
  const udp = count("dns-udp-answer-limit", 1);
  if (udp !== undefined) out.udpAnswerLimit = udp;
  const a = count("dns-a-record-limit", 0);
  if (a !== undefined) out.aRecordLimit = a;
  return Object.keys(out).length === 0 ? {} : { dnsConfig: out };
}

export function heartbeatFlags(one: (name: string) => string | undefined, server: boolean): HeartbeatSettings {
  const out: HeartbeatSettings = {};
  const given = ["min-heartbeat-ttl", "heartbeat-grace", "max-heartbeats-per-second"].filter((n) => one(n) !== undefined);
  if (given.length > 0 && !server) throw new UsageError(`-${given[0] ?? ""} is a server setting: it needs the server role (-dev or -server)`);
  const duration = (name: string, minMs: number): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    const ns = parseDuration(v.trim());
    if (ns === undefined) throw new UsageError(`-${name} must be a duration such as "10s", "1m30s" or "500ms", got "${v}"`);
    const ms = ns / NS.millisecond;
    if (ms < minMs || ms > DAY_MS) throw new UsageError(`-${name} must be from ${formatDuration(minMs * NS.millisecond)} to 24h, got "${v}"`);
    return ms;
  };
  const ttl = duration("min-heartbeat-ttl", 100);
  if (ttl !== undefined) out.minTTL = ttl;
  const grace = duration("heartbeat-grace", 0);
  if (grace !== undefined) out.grace = grace;
  const rate = one("max-heartbeats-per-second");
  if (rate !== undefined) {
    const n = Number(rate);
    if (rate.trim() === "" || !Number.isFinite(n) || n <= 0 || n > 1_000_000) throw new UsageError(`-max-heartbeats-per-second must be a number above 0 (up to 1000000), got "${rate}"`);
    out.maxPerSecond = n;
  }
  return out;
}

type HeartbeatSettings = NonNullable<AgentConfig["heartbeat"]>;

/**
 * The agent's TLS from the -tls-* flags (the config's tls block) and -join-token: on with
 * http or rpc and the three files; on with http or rpc and none of them, or with a join
 * token, from the cluster's own PKI (a server's CA, a client's join), whose certificates
 * always name the region's servers, so that their names are checked; `{ enabled: false }`
 * when tls { enabled = false } says plain HTTP; nothing when nothing is said. What does not
 * hold together is refused, saying what.
 */
export function tlsFlags(p: Parsed, cwd: string, notes: string[], role: { server: boolean; dev: boolean }, env: Readonly<Record<string, string | undefined>> = {}): { tls?: AgentTls } {
  const one = (name: string): string | undefined => flagValues(p, name).at(-1);
  // -join-token (client { join_token }), else $RUCHE_JOIN_TOKEN on a client-only agent (a server issues its own certificate: it ignores it).
  const fromEnv = env.RUCHE_JOIN_TOKEN?.trim();
  const joinToken = one("join-token") ?? (role.server || fromEnv === undefined || fromEnv === "" ? undefined : fromEnv);
  const joinFrom = one("join-token") === undefined ? "RUCHE_JOIN_TOKEN" : "-join-token";
  const http = flagBool(p, "tls-http");
  const rpc = flagBool(p, "tls-rpc");
  const files = { caFile: one("tls-ca-file"), certFile: one("tls-cert-file"), keyFile: one("tls-key-file") };
  const given = Object.entries({ "-tls-ca-file": files.caFile, "-tls-cert-file": files.certFile, "-tls-key-file": files.keyFile }).filter(([, v]) => v !== undefined).map(([k]) => k);
  const verify = ["tls-verify-server-hostname", "tls-verify-https-client"].filter((n) => flagBool(p, n));
  if (joinToken !== undefined) {
    if (joinToken.trim() === "") throw new UsageError("-join-token is empty: give the token `ruche join-token create` printed");
    if (role.dev) throw new UsageError("-join-token joins a cluster over TLS, and -dev serves plain HTTP alone: keep one");
    if (given.length > 0) throw new UsageError(`${joinFrom} and ${given.join(", ")}: a join token gets the node's certificate from the cluster's CA; keep one`);
  }
  // -join-wan-token (server { join_wan_token }): this region's first server takes up another region's CA, the federation's one.
  const wanToken = one("join-wan-token");
  if (wanToken !== undefined) {
    if (wanToken.trim() === "") throw new UsageError("-join-wan-token is empty: give the server join token `ruche join-token create -role server` printed on a server of the other region");
    if (!role.server || role.dev) throw new UsageError("-join-wan-token is a server's (-server, not -dev): its region's first server takes up the other region's CA with it");
    if (given.length > 0) throw new UsageError(`-join-wan-token and ${given.join(", ")}: with certificate files, the operator's CA is the federation's (every region's server certificates naming server.<region>.nomad or .ruche); keep one`);
    if (p.flags.has("tls-enabled") && !flagBool(p, "tls-enabled")) throw new UsageError("tls { enabled = false } says plain HTTP, and -join-wan-token joins the federation's CA for mutual TLS between regions: keep one");
  }
  const cluster = { ...(joinToken === undefined ? {} : { joinToken }), ...(wanToken === undefined ? {} : { joinWanToken: wanToken }) };
  if (p.flags.has("tls-enabled") && !flagBool(p, "tls-enabled")) {
    if (http || rpc) throw new UsageError("tls { enabled = false } says plain HTTP, and tls { http/rpc = true } says TLS: keep one");
    if (joinToken !== undefined) throw new UsageError(`tls { enabled = false } says plain HTTP, and ${joinFrom} joins over TLS: keep one`);
    return { tls: { enabled: false } };
  }
  if (!http && !rpc && joinToken === undefined) {
    if (given.length > 0 || verify.length > 0) throw new UsageError(`${[...given, ...verify.map((v) => `-${v}`)].join(", ")} given, but TLS is not on: add tls { http = true, rpc = true } (-tls-http -tls-rpc)`);
    // -dev is plain HTTP on loopback; every other agent is TLS from the cluster's own PKI unless told otherwise.
    if (role.dev) return {};
    return { tls: { enabled: true, cluster, verifyServerHostname: true, verifyHttpsClient: false } };
  }
  if (http !== rpc) notes.push(`tls { ${http ? "http" : "rpc"} = true } turns TLS on for both the HTTP API and the traffic between agents: in Ruche they are one (agents talk over the HTTP API)`);
  if (given.length === 0) {
    // The cluster's own PKI: every certificate it issues says whether it is a server's.
    return { tls: { enabled: true, cluster, verifyServerHostname: true, verifyHttpsClient: flagBool(p, "tls-verify-https-client") } };
  }
  const missing = Object.entries({ ca_file: files.caFile, cert_file: files.certFile, key_file: files.keyFile }).filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length > 0) throw new UsageError(`TLS (tls { ${http ? "http" : "rpc"} = true }) with certificate files needs ${missing.join(", ")} too (-tls-${missing.map((m) => m.replace("_", "-")).join(", -tls-")}); give all three, or none for the cluster's own PKI`);
  return {
    tls: {
      enabled: true,
      caFile: resolve(cwd, files.caFile ?? ""),
      certFile: resolve(cwd, files.certFile ?? ""),
      keyFile: resolve(cwd, files.keyFile ?? ""),
      verifyServerHostname: flagBool(p, "tls-verify-server-hostname"),
      verifyHttpsClient: flagBool(p, "tls-verify-https-client"),
    },
  };
}

const DAY_MS = 24 * 3_600_000;

/** `{ [key]: value }`, or nothing when the value is absent (optional fields are left out, never undefined). */
function optionalString<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
