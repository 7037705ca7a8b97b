import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs, applyConfigFiles } from "./commands/agent.js";
import { parseArgs } from "./args.js";
import { runCli, type IO } from "./index.js";
import { testCa } from "../../test/tls-certs.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ruche-agent-config-"));
  await mkdir(join(dir, "conf.d"));
  await writeFile(join(dir, "conf.d", "10-server.hcl"), 'datacenter = "dc-a"\nserver {\n  enabled = true\n  bootstrap_expect = 1\n}\nclient {\n  meta { role = "web" }\n}\n');
  await writeFile(join(dir, "conf.d", "20-client.json"), JSON.stringify({ datacenter: "dc-b", client: { enabled: true, node_class: "edge", meta: { zone: "a" } } }));
  await writeFile(join(dir, "conf.d", "notes.txt"), "not read");
  await writeFile(join(dir, "bad.hcl"), 'server {\n  enabled = true\n  bootstrap_expect = 0\n}\ndatacentre = "x"\n');
  // The reference article's two files, as written but for the data directory.
  await writeFile(
    join(dir, "server.hcl"),
    `region     = "europe"
datacenter = "europe-west1"
data_dir   = "${join(dir, "data")}"
bind_addr  = "127.0.0.1"
server {
  enabled          = true
  bootstrap_expect = 3
  server_join { retry_join = ["127.0.0.1:5646", "127.0.0.1:5746", "127.0.0.1:5846"] }
}
consul { address = "127.0.0.1:8500" }
`,
  );
  await writeFile(join(dir, "client.hcl"), 'client {\n  enabled = true\n  servers = ["127.0.0.1:5646"]\n  meta { role = "web" }\n}\n');
  await writeFile(join(dir, "external-etcd.hcl"), 'server {\n  enabled = true\n  etcd { endpoints = ["http://127.0.0.1:2379", "http://127.0.0.1:22379"] }\n}\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SPEC = { config: { value: true, repeat: true }, datacenter: { value: true }, "node-class": { value: true }, meta: { value: true, repeat: true }, server: { value: false }, client: { value: false } } as const;

/** The message `agentConfigFromArgs` refuses `argv` with; a test failure when it accepts them. */
async function refused(argv: string[]): Promise<string> {
  try {
    await agentConfigFromArgs(argv, dir);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${argv.join(" ")} was accepted`);
}

describe("ruche agent -config", () => {
  it("reads a directory's *.hcl and *.json in lexical order; a later file overrides, meta adds up", async () => {
    const p = parseArgs(["-config", join(dir, "conf.d")], SPEC);
    await applyConfigFiles(p, dir);
    expect(Object.fromEntries(p.flags)).toMatchObject({ datacenter: ["dc-b"], server: ["true"], client: ["true"], "node-class": ["edge"], meta: ["role=web", "zone=a"] });
  });

  it("a flag on the command line overrides the files", async () => {
    const p = parseArgs(["-config", "conf.d", "-datacenter", "dc-flag", "-meta", "role=api"], SPEC);
    await applyConfigFiles(p, dir);
    expect(p.flags.get("datacenter")).toEqual(["dc-flag"]);
    expect(p.flags.get("meta")).toEqual(["role=api"]);
    expect(p.flags.get("node-class")).toEqual(["edge"]);
  });

  it("refuses a bad file with file:line:col before anything starts", async () => {
    let err = "";
    const io: IO = { out: () => undefined, err: (t) => (err += t), env: {}, cwd: dir };
    const code = await runCli(["agent", "-config", "bad.hcl"], io);
    expect(code).not.toBe(0);
    expect(err).toContain(`${join(dir, "bad.hcl")}:3:3: server.bootstrap_expect: bootstrap_expect must be a whole number from 1, got 0`);
    expect(err).toContain(`${join(dir, "bad.hcl")}:5:1: datacentre: unknown key "datacentre"; did you mean "datacenter"?`);
    const missing = await runCli(["agent", "-config", "nowhere.hcl"], io);
    expect(missing).not.toBe(0);
    expect(err).toContain("-config nowhere.hcl:");
  });

  it("loads the reference server file as written: a server of region europe expecting 3, joining the others", async () => {
    const { config, notes } = await agentConfigFromArgs(["-config", "server.hcl"], dir);
    expect(config).toMatchObject({ server: true, client: false, dev: false, region: "europe", datacenter: "europe-west1", dataDir: join(dir, "data"), bind: "127.0.0.1", bootstrapExpect: 3, retryJoin: ["127.0.0.1:5646", "127.0.0.1:5746", "127.0.0.1:5846"], etcdEndpoints: [] });
    expect(notes).toEqual(['consul { address = "127.0.0.1:8500" } is not used: Ruche serves Consul\'s catalog, health and KV API itself (on ports { consul })']);
    const second = await agentConfigFromArgs(["-config", "server.hcl", "-http-port", "5746", "-node", "s2"], dir);
    expect(second.config).toMatchObject({ httpPort: 5746, nodeName: "s2", bootstrapExpect: 3 });
  });

  it("loads the reference client file as written: a client of the global region joining 127.0.0.1:5646", async () => {
    const { config } = await agentConfigFromArgs(["-config", "client.hcl", "-data-dir", join(dir, "client")], dir);
    expect(config).toMatchObject({ server: false, client: true, servers: ["127.0.0.1:5646"], meta: { role: "web" }, region: "global", bootstrapExpect: 0, retryJoin: [], etcdEndpoints: [] });
  });

  it("loads an external etcd's endpoints; flags override the files", async () => {
    const { config } = await agentConfigFromArgs(["-config", "external-etcd.hcl", "-data-dir", "d", "-region", "eu-west_2"], dir);
    expect(config).toMatchObject({ region: "eu-west_2", etcdEndpoints: ["http://127.0.0.1:2379", "http://127.0.0.1:22379"], bootstrapExpect: 0 });
    const flagged = await agentConfigFromArgs(["-config", "server.hcl", "-bootstrap-expect", "5", "-retry-join", "10.0.0.1,10.0.0.2:5000", "-retry-join", "[::1]:4646", "-etcd-endpoints", "http://e1:2379/,http://e2:2379"], dir);
    expect(flagged.config).toMatchObject({ bootstrapExpect: 5, retryJoin: ["10.0.0.1:4646", "10.0.0.2:5000", "[::1]:4646"], etcdEndpoints: ["http://e1:2379", "http://e2:2379"] });
  });

  it("refuses bad cluster flags with the flag's name, before anything starts", async () => {
    const server = ["-server", "-data-dir", "d"];
    expect(await refused([...server, "-region", "eu/west"])).toMatch(/^-region: region "eu\/west" is not a region name/);
    expect(await refused([...server, "-bootstrap-expect", "0"])).toBe('-bootstrap-expect must be a whole number from 1, got "0"');
    expect(await refused([...server, "-bootstrap-expect", "three"])).toBe('-bootstrap-expect must be a whole number from 1, got "three"');
    expect(await refused(["-dev", "-bootstrap-expect", "3"])).toMatch(/^-bootstrap-expect is for servers that form a cluster, and -dev runs one server alone/);
    expect(await refused([...server, "-retry-join", "127.0.0.1:99999"])).toMatch(/^-retry-join: .*"127.0.0.1:99999" has no valid port/);
    expect(await refused([...server, "-etcd-endpoints", "http://e1:2379,https://e2:2379"])).toBe("-etcd-endpoints mixes http:// and https:// endpoints (http://e1:2379, https://e2:2379): the members of one etcd cluster all speak TLS or none does");
    expect(await refused([...server, "-etcd-endpoints", "ftp://e1:2379"])).toMatch(/must be an http:\/\/ or https:\/\/ URL/);
    expect(await refused([...server, "-etcd-endpoints", "http://e1"])).toMatch(/must be http:\/\/host:port and nothing more/);
    expect(await refused(["-client", "-data-dir", "d", "-servers", "a:4646", "-retry-join", "b:4646"])).toBe("-retry-join is a server setting: it needs the server role (-server)");
    expect(await refused([...server, "-retry-join-wan", "provider=aws"])).toMatch(/^-retry-join-wan: retry_join_wan takes another server's API address.*looks like a cloud auto-join query/);
    expect(await refused(["-client", "-data-dir", "d", "-servers", "a:4646", "-retry-join-wan", "b:4646"])).toBe("-retry-join-wan is a server setting: it needs the server role (-server)");
    const wan = await agentConfigFromArgs([...server, "-retry-join-wan", "10.1.0.1,us.example.com:5646", "-retry-join-wan", "[::1]"], dir);
    expect(wan.config.retryJoinWan).toEqual(["10.1.0.1:4646", "us.example.com:5646", "[::1]:4646"]);
  });
});

describe("an external etcd that speaks TLS", () => {
  const tlsDir = (): string => join(dir, "etcd-tls");
  beforeAll(async () => {
    await mkdir(tlsDir(), { recursive: true });
    const ca = await testCa("etcd CA");
    const client = await ca.issue("ruche", []);
    const other = await ca.issue("other", []);
    await writeFile(join(tlsDir(), "ca.pem"), ca.cert);
    await writeFile(join(tlsDir(), "client.pem"), client.cert);
    await writeFile(join(tlsDir(), "client-key.pem"), client.key);
    await writeFile(join(tlsDir(), "other-key.pem"), other.key);
    await writeFile(join(tlsDir(), "not-pem.pem"), "hello\n");
    await writeFile(join(tlsDir(), "etcd.hcl"), 'server {\n  enabled = true\n  etcd {\n    endpoints = ["https://127.0.0.1:2379"]\n    ca_file   = "etcd-tls/ca.pem"\n    cert_file = "etcd-tls/client.pem"\n    key_file  = "etcd-tls/client-key.pem"\n  }\n}\n');
  });
  const server = ["-server", "-data-dir", "d"];
  const https = [...server, "-etcd-endpoints", "https://10.0.0.9:2379,https://10.0.0.10:2379"];

  it("reads -etcd-cacert, -etcd-cert and -etcd-key at start, and the config's ca_file, cert_file, key_file", async () => {
    const { config } = await agentConfigFromArgs([...https, "-etcd-cacert", "etcd-tls/ca.pem", "-etcd-cert", "etcd-tls/client.pem", "-etcd-key", "etcd-tls/client-key.pem"], dir);
    expect(config.etcdEndpoints).toEqual(["https://10.0.0.9:2379", "https://10.0.0.10:2379"]);
    expect(config.etcdTls?.ca).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(config.etcdTls?.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(config.etcdTls?.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(config.etcdTls?.files).toEqual({ cacert: join(tlsDir(), "ca.pem"), cert: join(tlsDir(), "client.pem"), key: join(tlsDir(), "client-key.pem") });
    // Only the CA: TLS that checks etcd's certificate, no client certificate shown.
    const caOnly = (await agentConfigFromArgs([...https, "-etcd-cacert", "etcd-tls/ca.pem"], dir)).config.etcdTls;
    expect(caOnly).toEqual({ ca: config.etcdTls?.ca, files: { cacert: join(tlsDir(), "ca.pem") } });
    const fromFile = (await agentConfigFromArgs(["-config", "etcd-tls/etcd.hcl", "-data-dir", "d"], dir)).config;
    expect(fromFile.etcdEndpoints).toEqual(["https://127.0.0.1:2379"]);
    expect(fromFile.etcdTls?.files).toEqual(config.etcdTls?.files);
    // Plain http endpoints: no TLS, as before.
    expect((await agentConfigFromArgs([...server, "-etcd-endpoints", "http://e1:2379"], dir)).config.etcdTls).toBeUndefined();
  });

  it("refuses what does not hold together, saying what, before anything starts", async () => {
    const ca = ["-etcd-cacert", "etcd-tls/ca.pem"];
    expect(await refused(https)).toBe("an https etcd endpoint needs -etcd-cacert (server { etcd { ca_file } }): the CA that signed the etcd members' certificates");
    expect(await refused([...https, "-etcd-cert", "etcd-tls/client.pem", "-etcd-key", "etcd-tls/client-key.pem"])).toMatch(/^an https etcd endpoint needs -etcd-cacert/);
    expect(await refused([...https, ...ca, "-etcd-cert", "etcd-tls/client.pem"])).toMatch(/^-etcd-cert given without -etcd-key: an etcd client certificate and its key go together/);
    expect(await refused([...https, ...ca, "-etcd-key", "etcd-tls/client-key.pem"])).toMatch(/^-etcd-key given without -etcd-cert/);
    expect(await refused([...server, "-etcd-endpoints", "http://e1:2379", ...ca])).toBe("-etcd-cacert given, but the etcd endpoints are http:// (http://e1:2379): TLS settings for an etcd that speaks plain HTTP are a mistake; give https:// endpoints, or drop -etcd-cacert");
    expect(await refused([...server, ...ca])).toBe("-etcd-cacert given without -etcd-endpoints: they are the TLS of an external etcd cluster");
    expect(await refused(["-client", "-data-dir", "d", "-servers", "a:4646", ...ca])).toBe("-etcd-cacert is a server setting: it needs the server role (-server)");
    expect(await refused(["-dev", ...ca])).toMatch(/^-etcd-cacert is the TLS of an external etcd cluster, and -dev keeps its state alone/);
  });

  it("refuses a file missing, not PEM, or a key that is not the certificate's, naming the flag and the path", async () => {
    const path = (n: string): string => join(tlsDir(), n);
    expect(await refused([...https, "-etcd-cacert", "etcd-tls/missing.pem"])).toMatch(new RegExp(`^-etcd-cacert ${path("missing.pem")}: cannot read it: ENOENT`));
    expect(await refused([...https, "-etcd-cacert", "etcd-tls/not-pem.pem"])).toBe(`-etcd-cacert ${path("not-pem.pem")} is not PEM: no "CERTIFICATE" block`);
    expect(await refused([...https, "-etcd-cacert", "etcd-tls/ca.pem", "-etcd-cert", "etcd-tls/client-key.pem", "-etcd-key", "etcd-tls/client-key.pem"])).toBe(`-etcd-cert ${path("client-key.pem")} is not PEM: no "CERTIFICATE" block`);
    expect(await refused([...https, "-etcd-cacert", "etcd-tls/ca.pem", "-etcd-cert", "etcd-tls/client.pem", "-etcd-key", "etcd-tls/ca.pem"])).toMatch(new RegExp(`^-etcd-key ${path("ca.pem")} is not a PEM private key`));
    expect(await refused([...https, "-etcd-cacert", "etcd-tls/ca.pem", "-etcd-cert", "etcd-tls/client.pem", "-etcd-key", "etcd-tls/other-key.pem"])).toMatch(new RegExp(`^-etcd-cert ${path("client.pem")} and -etcd-key ${path("other-key.pem")} do not make a TLS identity`));
  });
});

describe("what an agent runs for others, by default", () => {
  it("offers raw_exec in -dev and nowhere else unless the config or -raw-exec says so; runs no script check unless told", async () => {
    const cfg = async (argv: string[]): Promise<{ rawExec: boolean | undefined; enableScriptChecks: boolean | undefined; enableLocalScriptChecks: boolean | undefined }> => {
      const { rawExec, enableScriptChecks, enableLocalScriptChecks } = (await agentConfigFromArgs(argv, dir)).config;
      return { rawExec, enableScriptChecks, enableLocalScriptChecks };
    };
    const client = ["-client", "-data-dir", "d", "-servers", "127.0.0.1:4646"];
    expect(await cfg(["-dev"])).toEqual({ rawExec: true, enableScriptChecks: false, enableLocalScriptChecks: false });
    expect(await cfg(client)).toEqual({ rawExec: false, enableScriptChecks: false, enableLocalScriptChecks: false });
    expect((await cfg([...client, "-raw-exec"])).rawExec).toBe(true);
    await writeFile(join(dir, "raw-exec.hcl"), 'plugin "raw_exec" {\n  config { enabled = true }\n}\nenable_local_script_checks = true\n');
    await writeFile(join(dir, "no-raw-exec.hcl"), 'plugin "raw_exec" {\n  config { enabled = false }\n}\nenable_script_checks = true\n');
    expect(await cfg([...client, "-config", "raw-exec.hcl"])).toEqual({ rawExec: true, enableScriptChecks: false, enableLocalScriptChecks: true });
    expect(await cfg(["-dev", "-config", "no-raw-exec.hcl"])).toEqual({ rawExec: false, enableScriptChecks: true, enableLocalScriptChecks: false });
  });
});

describe("-etcd-port (etcd's API over the KV store)", () => {
  it("is 2379 in -dev, none otherwise unless given, and ports { etcd } sets it", async () => {
    expect((await agentConfigFromArgs(["-dev"], dir)).config.etcdPort).toBe(2379);
    expect((await agentConfigFromArgs(["-dev", "-etcd-port", "-1"], dir)).config.etcdPort).toBeUndefined();
    expect((await agentConfigFromArgs(["-server", "-data-dir", "d"], dir)).config.etcdPort).toBeUndefined();
    expect((await agentConfigFromArgs(["-server", "-data-dir", "d", "-etcd-port", "0"], dir)).config.etcdPort).toBe(0);
    await writeFile(join(dir, "etcd-port.hcl"), "server {\n  enabled = true\n}\nports {\n  etcd = 12379\n}\n");
    expect((await agentConfigFromArgs(["-config", "etcd-port.hcl", "-data-dir", "d"], dir)).config.etcdPort).toBe(12379);
    await expect(agentConfigFromArgs(["-dev", "-etcd-port", "x"], dir)).rejects.toThrow('-etcd-port must be a port number, 0 or -1, got "x"');
  });
});
