import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs, usage } from "./commands/agent.js";

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-cli-join-env-"));
  writeFileSync(join(dir, "join.hcl"), 'client {\n  join_token = "RUCHE-1-fromfile"\n}\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const client = ["-client", "-data-dir", "/tmp/x", "-servers", "10.0.0.1:4646"];
const env = { RUCHE_JOIN_TOKEN: "RUCHE-1-fromenv" };

describe("$RUCHE_JOIN_TOKEN", () => {
  it("is a client-only agent's join token when neither -join-token nor client { join_token } gives one", async () => {
    expect((await agentConfigFromArgs(client, dir, env)).config.tls).toEqual({ enabled: true, cluster: { joinToken: "RUCHE-1-fromenv" }, verifyServerHostname: true, verifyHttpsClient: false });
    expect((await agentConfigFromArgs([...client, "-join-token", "RUCHE-1-flag"], dir, env)).config.tls).toMatchObject({ cluster: { joinToken: "RUCHE-1-flag" } });
    expect((await agentConfigFromArgs([...client, "-config", "join.hcl"], dir, env)).config.tls).toMatchObject({ cluster: { joinToken: "RUCHE-1-fromfile" } });
    // Blank is none: the agent goes on without a token (and TLS from the cluster's PKI, joined before).
    expect((await agentConfigFromArgs(client, dir, { RUCHE_JOIN_TOKEN: "  " })).config.tls).toEqual({ enabled: true, cluster: {}, verifyServerHostname: true, verifyHttpsClient: false });
  });

  it("is ignored by a server and by -dev, which issue their own certificates", async () => {
    expect((await agentConfigFromArgs(["-server", "-data-dir", "/tmp/x"], dir, env)).config.tls).toEqual({ enabled: true, cluster: {}, verifyServerHostname: true, verifyHttpsClient: false });
    expect((await agentConfigFromArgs(["-dev"], dir, env)).config.tls).toBeUndefined();
  });

  it("is refused, named, beside certificate files or with TLS off", async () => {
    await expect(agentConfigFromArgs([...client, "-tls-http", "-tls-ca-file", "ca.pem"], dir, env)).rejects.toThrow(/RUCHE_JOIN_TOKEN and -tls-ca-file.*keep one/);
    await expect(agentConfigFromArgs([...client, "-tls-enabled=false"], dir, env)).rejects.toThrow(/plain HTTP, and RUCHE_JOIN_TOKEN joins over TLS/);
  });

  it("is in the agent's usage", () => {
    expect(usage).toContain("$RUCHE_JOIN_TOKEN");
  });
});
