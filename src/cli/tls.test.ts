import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./api.js";
import { parseArgs, UsageError } from "./args.js";
import { agentConfigFromArgs } from "./commands/agent.js";
import { cliTls, TLS_FLAGS } from "./tls.js";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-cli-tls-"));
  writeFileSync(join(dir, "ca.pem"), "CA PEM");
  writeFileSync(join(dir, "cli.pem"), "CERT PEM");
  writeFileSync(join(dir, "cli-key.pem"), "KEY PEM");
  mkdirSync(join(dir, "data", "tls"), { recursive: true });
  writeFileSync(join(dir, "data", "tls", "ca.pem"), "CLUSTER CA PEM");
  const write = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text);
  };
  write("tls.hcl", 'tls {\n  http = true\n  rpc = true\n  ca_file = "ca.pem"\n  cert_file = "cli.pem"\n  key_file = "cli-key.pem"\n  verify_https_client = true\n}\n');
  write("http-only.hcl", 'tls {\n  http = true\n  ca_file = "ca.pem"\n  cert_file = "cli.pem"\n  key_file = "cli-key.pem"\n}\n');
  write("no-files.hcl", "tls {\n  http = true\n  rpc = true\n}\n");
  write("off.hcl", "tls {\n  enabled = false\n}\n");
  write("both.hcl", "tls {\n  enabled = false\n  http = true\n}\n");
  write("upgrade.hcl", "tls {\n  http = true\n  rpc_upgrade_mode = true\n}\n");
  write("files-only.hcl", 'tls {\n  ca_file = "ca.pem"\n}\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const server = ["-server", "-data-dir", "/tmp/x", "-config"];

describe("the agent's tls block", () => {
  it("turns TLS on with the operator's files, paths from the working directory", async () => {
    const { config } = await agentConfigFromArgs([...server, "tls.hcl"], dir);
    expect(config.tls).toEqual({ enabled: true, caFile: join(dir, "ca.pem"), certFile: join(dir, "cli.pem"), keyFile: join(dir, "cli-key.pem"), verifyServerHostname: false, verifyHttpsClient: true });
  });

  it("says so when http and rpc differ: in Ruche they are one", async () => {
    const { config, notes } = await agentConfigFromArgs([...server, "http-only.hcl"], dir);
    expect(config.tls?.enabled).toBe(true);
    expect(notes.join("\n")).toMatch(/tls \{ http = true \} turns TLS on for both/);
  });

  it("takes TLS on without files as the cluster's own PKI, whose server names are checked", async () => {
    const { config } = await agentConfigFromArgs([...server, "no-files.hcl"], dir);
    expect(config.tls).toEqual({ enabled: true, cluster: {}, verifyServerHostname: true, verifyHttpsClient: false });
    expect((await agentConfigFromArgs(["-server", "-data-dir", "/tmp/x", "-tls-http"], dir)).config.tls).toMatchObject({ cluster: {} });
  });

  it("refuses one or two of the three files, naming the ones missing", async () => {
    await expect(agentConfigFromArgs([...server, "no-files.hcl", "-tls-ca-file", "ca.pem"], dir)).rejects.toThrow(/needs cert_file, key_file too/);
    await expect(agentConfigFromArgs(["-server", "-data-dir", "/tmp/x", "-tls-http", "-tls-cert-file", "cli.pem", "-tls-key-file", "cli-key.pem"], dir)).rejects.toThrow(/needs ca_file too/);
  });

  it("takes enabled = false as plain HTTP said on purpose, and refuses it beside http = true", async () => {
    expect((await agentConfigFromArgs([...server, "off.hcl"], dir)).config.tls).toEqual({ enabled: false });
    await expect(agentConfigFromArgs([...server, "both.hcl"], dir)).rejects.toThrow(/keep one/);
  });

  it("refuses what Ruche does not have with file:line:col, and files with TLS off", async () => {
    await expect(agentConfigFromArgs([...server, "upgrade.hcl"], dir)).rejects.toThrow(/upgrade\.hcl:3:\d+.*rpc_upgrade_mode: a Ruche agent serves TLS or plain HTTP/);
    await expect(agentConfigFromArgs([...server, "files-only.hcl"], dir)).rejects.toThrow(/-tls-ca-file given, but TLS is not on/);
  });

  it("without a block: -dev plain HTTP, every other agent the cluster's own PKI", async () => {
    expect((await agentConfigFromArgs(["-dev"], dir)).config.tls).toBeUndefined();
    expect((await agentConfigFromArgs(["-server", "-data-dir", "/tmp/x"], dir)).config.tls).toEqual({ enabled: true, cluster: {}, verifyServerHostname: true, verifyHttpsClient: false });
    expect((await agentConfigFromArgs(["-client", "-data-dir", "/tmp/x", "-servers", "10.0.0.1:4646"], dir)).config.tls).toMatchObject({ enabled: true, cluster: {} });
  });
});

describe("a client's -join-token", () => {
  const client = ["-client", "-data-dir", "/tmp/x", "-servers", "10.0.0.1:4646"];

  it("turns TLS on from the cluster's PKI, from the flag or client { join_token }", async () => {
    expect((await agentConfigFromArgs([...client, "-join-token", "RUCHE-1-abc"], dir)).config.tls).toEqual({ enabled: true, cluster: { joinToken: "RUCHE-1-abc" }, verifyServerHostname: true, verifyHttpsClient: false });
    writeFileSync(join(dir, "join.hcl"), 'client {\n  join_token = "RUCHE-1-fromfile"\n}\n');
    expect((await agentConfigFromArgs([...client, "-config", "join.hcl"], dir)).config.tls).toMatchObject({ cluster: { joinToken: "RUCHE-1-fromfile" } });
  });

  it("on a server joins it with a server join token (the cluster key comes with the answer); refused in -dev", async () => {
    expect((await agentConfigFromArgs(["-server", "-data-dir", "/tmp/x", "-join-token", "RUCHE-1-abc", "-servers", "10.0.0.1:4646"], dir)).config.tls).toMatchObject({ enabled: true, cluster: { joinToken: "RUCHE-1-abc" } });
    await expect(agentConfigFromArgs(["-dev", "-join-token", "RUCHE-1-abc"], dir)).rejects.toThrow(/-dev serves plain HTTP alone/);
  });

  it("is refused beside certificate files, with TLS off, and empty", async () => {
    await expect(agentConfigFromArgs([...client, "-join-token", "RUCHE-1-abc", "-tls-ca-file", "ca.pem"], dir)).rejects.toThrow(/-join-token and -tls-ca-file.*keep one/);
    await expect(agentConfigFromArgs([...client, "-join-token", "RUCHE-1-abc", "-tls-enabled=false"], dir)).rejects.toThrow(/plain HTTP, and -join-token/);
    await expect(agentConfigFromArgs([...client, "-join-token", ""], dir)).rejects.toThrow(/-join-token is empty/);
  });
});

describe("a server's -join-wan-token (server { join_wan_token })", () => {
  const wan = ["-server", "-data-dir", "/tmp/x", "-region", "us", "-retry-join-wan", "10.0.0.1:4646"];

  it("takes up another region's CA with the cluster's own PKI, from the flag or the config", async () => {
    expect((await agentConfigFromArgs([...wan, "-join-wan-token", "RUCHE-1-eu"], dir)).config.tls).toEqual({ enabled: true, cluster: { joinWanToken: "RUCHE-1-eu" }, verifyServerHostname: true, verifyHttpsClient: false });
    writeFileSync(join(dir, "wan.hcl"), 'server {\n  join_wan_token = "RUCHE-1-fromfile"\n}\n');
    expect((await agentConfigFromArgs([...wan, "-config", "wan.hcl"], dir)).config.tls).toMatchObject({ cluster: { joinWanToken: "RUCHE-1-fromfile" } });
  });

  it("is refused on a client or in -dev, beside certificate files, with TLS off, and empty", async () => {
    await expect(agentConfigFromArgs(["-client", "-data-dir", "/tmp/x", "-servers", "10.0.0.1:4646", "-join-wan-token", "RUCHE-1-eu"], dir)).rejects.toThrow(/-join-wan-token is a server's/);
    await expect(agentConfigFromArgs(["-dev", "-join-wan-token", "RUCHE-1-eu"], dir)).rejects.toThrow(/-join-wan-token is a server's/);
    await expect(agentConfigFromArgs([...wan, "-join-wan-token", "RUCHE-1-eu", "-tls-http", "-tls-ca-file", "ca.pem", "-tls-cert-file", "cli.pem", "-tls-key-file", "cli-key.pem"], dir)).rejects.toThrow(/the operator's CA is the federation's/);
    await expect(agentConfigFromArgs([...wan, "-join-wan-token", "RUCHE-1-eu", "-tls-enabled=false"], dir)).rejects.toThrow(/plain HTTP, and -join-wan-token/);
    await expect(agentConfigFromArgs([...wan, "-join-wan-token", " "], dir)).rejects.toThrow(/-join-wan-token is empty/);
  });
});

describe("the CLI's TLS", () => {
  const parsed = (...argv: string[]) => parseArgs(argv, { address: { value: true }, ...TLS_FLAGS });
  const io = (env: Record<string, string>) => ({ out: () => undefined, err: () => undefined, env, cwd: dir });

  it("reads -ca-cert, else RUCHE_CACERT, else NOMAD_CACERT, else the data dir's cluster CA", () => {
    expect(cliTls(parsed("-ca-cert", join(dir, "ca.pem")), {}, dir)).toEqual({ ca: "CA PEM" });
    expect(cliTls(parsed("-ca-cert", "ca.pem"), {}, dir)).toEqual({ ca: "CA PEM" });
    expect(cliTls(parsed(), { RUCHE_CACERT: join(dir, "ca.pem") }, dir)).toEqual({ ca: "CA PEM" });
    expect(cliTls(parsed(), { NOMAD_CACERT: join(dir, "ca.pem") }, dir)).toEqual({ ca: "CA PEM" });
    expect(cliTls(parsed(), { RUCHE_DATA_DIR: join(dir, "data") }, dir)).toEqual({ ca: "CLUSTER CA PEM" });
    expect(cliTls(parsed(), { RUCHE_DATA_DIR: join(dir, "nothing-here") }, dir)).toBeUndefined();
    expect(cliTls(parsed(), {}, dir)).toBeUndefined();
  });

  it("takes a client certificate and its key together, from flags or NOMAD_CLIENT_CERT / NOMAD_CLIENT_KEY", () => {
    expect(cliTls(parsed(), { NOMAD_CLIENT_CERT: join(dir, "cli.pem"), NOMAD_CLIENT_KEY: join(dir, "cli-key.pem") }, dir)).toEqual({ cert: "CERT PEM", key: "KEY PEM" });
    expect(() => cliTls(parsed("-client-cert", join(dir, "cli.pem")), {}, dir)).toThrow(/-client-cert needs -client-key/);
    expect(() => cliTls(parsed("-ca-cert", join(dir, "missing.pem")), {}, dir)).toThrow(/-ca-cert .*missing\.pem: ENOENT/);
  });

  it("refuses -tls-skip-verify and NOMAD_SKIP_VERIFY", () => {
    expect(() => cliTls(parsed("-tls-skip-verify"), {}, dir)).toThrow(UsageError);
    expect(() => cliTls(parsed(), { NOMAD_SKIP_VERIFY: "1" }, dir)).toThrow(/is refused/);
  });

  it("reaches host:port over https once a CA is given, http otherwise; NOMAD_ADDR after RUCHE_ADDR", () => {
    expect(apiClient(parsed("-ca-cert", join(dir, "ca.pem")), io({ RUCHE_ADDR: "10.0.0.1:4646" })).address).toBe("https://10.0.0.1:4646");
    expect(apiClient(parsed(), io({ RUCHE_ADDR: "10.0.0.1:4646" })).address).toBe("http://10.0.0.1:4646");
    expect(apiClient(parsed(), io({ NOMAD_ADDR: "https://n:4646" })).address).toBe("https://n:4646");
    expect(apiClient(parsed("-address", "http://a:1"), io({ RUCHE_ADDR: "b:2" })).address).toBe("http://a:1");
  });
});
