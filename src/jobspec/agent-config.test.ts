import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "./diagnostic.js";
import { parseAgentConfig } from "./agent-config.js";

async function flags(text: string, file = "agent.hcl"): Promise<Record<string, string[]>> {
  const r = await parseAgentConfig(text, file);
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return Object.fromEntries(r.config.flags);
}

async function errors(text: string, file = "agent.hcl"): Promise<string[]> {
  const r = await parseAgentConfig(text, file);
  if (r.ok) throw new Error(`expected the file to be refused, got ${JSON.stringify(Object.fromEntries(r.config.flags))}`);
  return r.diagnostics.map(formatDiagnostic);
}

const SERVER_REFERENCE = `region     = "europe"
datacenter = "europe-west1"
data_dir   = "/tmp/ruche"
bind_addr  = "127.0.0.1"
server {
  enabled          = true
  bootstrap_expect = 3
  server_join { retry_join = ["127.0.0.1:5646", "127.0.0.1:5746", "127.0.0.1:5846"] }
}
consul { address = "127.0.0.1:8500" }
`;

const CLIENT_REFERENCE = `client {
  enabled = true
  servers = ["127.0.0.1:5646"]
  meta { role = "web" }
}
`;

describe("agent config files, Nomad's format", () => {
  it("loads the reference server file as written: region, bootstrap_expect, server_join's retry_join", async () => {
    const r = await parseAgentConfig(SERVER_REFERENCE, "server.hcl");
    expect(r.ok && Object.fromEntries(r.config.flags)).toEqual({
      region: ["europe"],
      datacenter: ["europe-west1"],
      "data-dir": ["/tmp/ruche"],
      bind: ["127.0.0.1"],
      server: ["true"],
      "bootstrap-expect": ["3"],
      "retry-join": ["127.0.0.1:5646", "127.0.0.1:5746", "127.0.0.1:5846"],
    });
    expect(r.ok && r.config.notes).toEqual(['consul { address = "127.0.0.1:8500" } is not used: Ruche serves Consul\'s catalog, health and KV API itself (on ports { consul })']);
  });

  it("loads the reference client file", async () => {
    expect(await flags(CLIENT_REFERENCE)).toEqual({ client: ["true"], servers: ["127.0.0.1:5646"], meta: ["role=web"] });
  });

  it("takes an external etcd's endpoints, and the older server { retry_join } beside server_join's", async () => {
    const text = 'server {\n  enabled = true\n  retry_join = ["10.0.0.1"]\n  server_join {\n    retry_join = ["[::1]:5646"]\n  }\n  etcd {\n    endpoints = ["http://127.0.0.1:2379", "http://127.0.0.1:22379"]\n  }\n}\n';
    expect(await flags(text)).toEqual({ server: ["true"], "retry-join": ["10.0.0.1", "[::1]:5646"], "etcd-endpoints": ["http://127.0.0.1:2379", "http://127.0.0.1:22379"] });
    const json = JSON.stringify({ region: "eu-1", server: { bootstrap_expect: 3, server_join: { retry_join: ["a:4646"] }, etcd: { endpoints: ["http://e:2379"] } } });
    expect(await flags(json, "agent.json")).toEqual({ region: ["eu-1"], "bootstrap-expect": ["3"], "retry-join": ["a:4646"], "etcd-endpoints": ["http://e:2379"] });
  });

  it("takes an etcd cluster's TLS files as etcdctl's flags, HCL and JSON alike", async () => {
    const text = 'server {\n  etcd {\n    endpoints = ["https://10.0.0.9:2379"]\n    ca_file   = "/etc/etcd/ca.pem"\n    cert_file = "/etc/etcd/client.pem"\n    key_file  = "/etc/etcd/client-key.pem"\n  }\n}\n';
    const want = { "etcd-endpoints": ["https://10.0.0.9:2379"], "etcd-cacert": ["/etc/etcd/ca.pem"], "etcd-cert": ["/etc/etcd/client.pem"], "etcd-key": ["/etc/etcd/client-key.pem"] };
    expect(await flags(text)).toEqual(want);
    const json = JSON.stringify({ server: { etcd: { endpoints: ["https://10.0.0.9:2379"], ca_file: "/etc/etcd/ca.pem", cert_file: "/etc/etcd/client.pem", key_file: "/etc/etcd/client-key.pem" } } });
    expect(await flags(json, "agent.json")).toEqual(want);
  });

  it("takes other regions' servers to join: server { retry_join_wan }, and Consul's top-level retry_join_wan; a bad address at its line", async () => {
    expect(await flags('server {\n  retry_join_wan = ["10.1.0.1:4646"]\n}\nretry_join_wan = ["us.example.com"]\n')).toEqual({ "retry-join-wan": ["10.1.0.1:4646", "us.example.com"] });
    expect(await errors('server {\n  retry_join_wan = ["a:0"]\n}\n')).toEqual(['agent.hcl:2:3: server.retry_join_wan: retry_join_wan takes another server\'s API address, host:port (or a host alone, port 4646): "a:0" has no valid port (1 to 65535)']);
  });

  it("refuses a bad region, bootstrap_expect, retry_join address or etcd endpoint at its line, and what Ruche does not have", async () => {
    const text = `region = "eu.west"
server {
  bootstrap_expect = 0
  server_join {
    retry_join = ["127.0.0.1:5646", "provider=aws tag_key=ruche"]
    retry_max = 3
  }
  start_join = ["127.0.0.1:5646"]
  etcd {
    endpoints = ["https://127.0.0.1:2379/v3"]
  }
}
`;
    expect(await errors(text)).toEqual([
      'agent.hcl:1:1: region: region "eu.west" is not a region name: letters, digits, "-" and "_", up to 63 characters, not starting or ending with "-"',
      "agent.hcl:3:3: server.bootstrap_expect: bootstrap_expect must be a whole number from 1, got 0",
      'agent.hcl:5:5: server.server_join.retry_join: retry_join takes another server\'s API address, host:port (or a host alone, port 4646): "provider=aws tag_key=ruche" looks like a cloud auto-join query, which Ruche does not have',
      "agent.hcl:6:5: server.server_join.retry_max: retry_max: Ruche tries the retry_join addresses until they answer; it cannot be bounded yet",
      "agent.hcl:8:3: server.start_join: start_join: Ruche has no one-time join; use server_join { retry_join = [...] }, tried until the servers answer",
      'agent.hcl:10:5: server.etcd.endpoints: etcd endpoint "https://127.0.0.1:2379/v3" must be https://host:port and nothing more, such as https://127.0.0.1:2379',
    ]);
    expect(await errors('server {\n  etcd { endpoints = ["127.0.0.1:2379"] }\n}\n')).toEqual(['agent.hcl:2:10: server.etcd.endpoints: etcd endpoint "127.0.0.1:2379" must be an http:// or https:// URL, such as http://127.0.0.1:2379']);
    expect(await errors('server {\n  etcd { ca_file = true }\n}\n')).toEqual(["agent.hcl:2:10: server.etcd.ca_file: ca_file must be a string, got true (bool)"]);
    expect(await errors("server {\n  bootstrap_expect = 2.5\n}\n")).toEqual(["agent.hcl:2:3: server.bootstrap_expect: bootstrap_expect must be a whole number, got 2.5 (number)"]);
  });

  it("loads the one-server variant", async () => {
    const one = SERVER_REFERENCE.replace('region     = "europe"\n', "").replace(/ {2}bootstrap_expect.*\n/, "").replace(/ {2}server_join.*\n/, "");
    const r = await parseAgentConfig(one, "server.hcl");
    expect(r.ok && Object.fromEntries(r.config.flags)).toEqual({ datacenter: ["europe-west1"], "data-dir": ["/tmp/ruche"], bind: ["127.0.0.1"], server: ["true"] });
  });

  it("maps every supported key to its flag", async () => {
    const text = `
name = "web-1"
log_level = "info"
ports {
  http = 5646
  consul = 0
  dns = -1
}
server {
  enabled = true
  heartbeat_grace = "10s"
  min_heartbeat_ttl = "5s"
  max_heartbeats_per_second = 12.5
}
client {
  enabled = true
  node_class = "edge"
  meta = { zone = "a", rack = "r1" }
  min_dynamic_port = 21000
  max_dynamic_port = 22000
}
limits { http_max_conns_per_client = 50 }
plugin "raw_exec" {
  config { enabled = true }
}
plugin "docker" {
  config {
    volumes { enabled = true }
  }
}
`;
    expect(await flags(text)).toEqual({
      node: ["web-1"],
      "log-level": ["info"],
      "http-port": ["5646"],
      "consul-port": ["0"],
      "dns-port": ["-1"],
      server: ["true"],
      "heartbeat-grace": ["10s"],
      "min-heartbeat-ttl": ["5s"],
      "max-heartbeats-per-second": ["12.5"],
      client: ["true"],
      "node-class": ["edge"],
      meta: ["zone=a", "rack=r1"],
      "min-dynamic-port": ["21000"],
      "max-dynamic-port": ["22000"],
      "http-max-conns-per-client": ["50"],
      "raw-exec": ["true"],
      "docker-volumes": ["true"],
    });
  });

  it("maps nomad-driver-containerd's plugin config to the containerd flags", async () => {
    const text = `
plugin "containerd-driver" {
  config {
    enabled            = true
    containerd_runtime = "io.containerd.runc.v2"
    stats_interval     = "5s"
    allow_privileged   = false
    auth {
      username = "someone"
      password = "secret"
    }
  }
}
`;
    expect(await flags(text)).toEqual({
      "containerd-enabled": ["true"],
      "containerd-runtime": ["io.containerd.runc.v2"],
      "containerd-allow-privileged": ["false"],
      "containerd-auth-username": ["someone"],
      "containerd-auth-password": ["secret"],
    });
    expect(await errors('plugin "containerd-driver" {\n  config {\n    containerd_runtim = "x"\n  }\n}\n')).toEqual([
      'agent.hcl:3:5: plugin.containerd-driver.config.containerd_runtim: unknown key "containerd_runtim" in plugin.containerd-driver.config; did you mean "containerd_runtime"?',
    ]);
  });

  it("reads the same as JSON, with line:col in its errors", async () => {
    const json = JSON.stringify({ datacenter: "dc2", server: { enabled: true }, client: { enabled: true, node_class: "edge", meta: { role: "web" } }, plugin: { docker: { config: { volumes: { enabled: true } } } } }, null, 2);
    expect(await flags(json, "agent.json")).toEqual({ datacenter: ["dc2"], server: ["true"], client: ["true"], "node-class": ["edge"], meta: ["role=web"], "docker-volumes": ["true"] });
    expect(await errors('{\n  "datacenter": "dc2",\n  "client": {\n    "node_clas": "edge",\n    "enabled": "yes"\n  }\n}', "agent.json")).toEqual([
      'agent.json:4:5: client.node_clas: unknown key "node_clas" in client; did you mean "node_class"?',
      'agent.json:5:5: client.enabled: enabled must be true or false, got "yes" (string)',
    ]);
    const nested = '{"client": [{"enabled": true, "meta": [{"role": "web"}]}], "plugin": [{"docker": [{"config": [{"volumes": [{"enabled": true}]}]}]}, {"raw_exec": [{"config": [{"enabled": true}]}]}]}';
    expect(await flags(nested, "agent.json")).toEqual({ client: ["true"], meta: ["role=web"], "docker-volumes": ["true"], "raw-exec": ["true"] });
    expect(await errors('{"datacenter": }', "agent.json")).toEqual(['agent.json:1:16: not valid JSON: expected a value at "}"']);
  });

  it("an unknown key, a wrong type, a block written as an attribute: each an error at file:line:col", async () => {
    expect(await errors('datacenter = "dc1"\ndatacentre = "dc2"\nserver {\n  enabled = "yes"\n}\nports = 3\nclient {\n  servers = "127.0.0.1:4646"\n  network_interface = "eth0"\n}\nplugin "qemu" {}\nplugin "java" {}\n')).toEqual([
      'agent.hcl:2:1: datacentre: unknown key "datacentre"; did you mean "datacenter"?',
      'agent.hcl:4:3: server.enabled: enabled must be true or false, got "yes" (string)',
      'agent.hcl:6:1: ports: "ports" is a block: write ports { ... }',
      'agent.hcl:8:3: client.servers: servers must be a list of strings, got "127.0.0.1:4646" (string)',
      "agent.hcl:9:3: client.network_interface: network_interface \"eth0\": choosing the node's address by interface is not built yet; use -network-ip",
      'agent.hcl:11:1: plugin.qemu: plugin "qemu" is not one Ruche has; it has "raw_exec", "docker", "containerd-driver", "podman" (and exec, java, mock)',
      "agent.hcl:12:1: plugin.java: plugin \"java\": Ruche's java driver takes no plugin options (Nomad's default_pid_mode, default_ipc_mode and allow_caps are not offered); remove the block",
    ]);
    expect(await errors("data_dir = \n")).toHaveLength(1);
  });
});
