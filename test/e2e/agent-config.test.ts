/**
 * `ruche agent -config DIR/`: an agent started from Nomad-format config files alone (a
 * server file in HCL, a client file in JSON, read in lexical order) runs both roles with
 * what the files say, and a flag on the command line overrides them: its node carries the
 * class and meta from the files and the datacenter from the flag.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, NO_ACL_NO_TLS, startAgentProcess, until } from "./harness.js";

let dir = "";
let agent: AgentProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-agent-config-"));
  const conf = join(dir, "conf.d");
  mkdirSync(conf);
  writeFileSync(
    join(conf, "10-server.hcl"),
    `datacenter = "europe-west1"
data_dir   = "${join(dir, "data")}"
bind_addr  = "127.0.0.1"
name       = "config-node"
ports {
  http   = 0
  consul = -1
  dns    = -1
}
server {
  enabled          = true
  bootstrap_expect = 1
  heartbeat_grace  = "5s"
}
consul { address = "127.0.0.1:8500" }
`,
  );
  writeFileSync(join(conf, "20-client.json"), JSON.stringify({ client: { enabled: true, node_class: "web-tier", meta: { role: "web" } }, plugin: { raw_exec: { config: { enabled: true } } } }));
  agent = await startAgentProcess([...NO_ACL_NO_TLS, "-config", conf, "-datacenter", "dc-flag"]);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("ruche agent -config DIR", () => {
  it("runs the server and the client the files describe; its node has their class and meta, the flag's datacenter", async () => {
    const a = agent;
    if (a === undefined) throw new Error("the agent did not start");
    const node = await until("the node from the config files is ready", async () => {
      const nodes = (await (await fetch(`http://${a.address}/v1/nodes`)).json()) as { ID: string; Status: string }[];
      const n = nodes.find((x) => x.Status === "ready");
      return n === undefined ? undefined : ((await (await fetch(`http://${a.address}/v1/node/${n.ID}`)).json()) as { Name: string; Datacenter: string; NodeClass: string; Meta: Record<string, string> });
    });
    expect(node.Name).toBe("config-node");
    expect(node.NodeClass).toBe("web-tier");
    expect(node.Meta.role).toBe("web");
    expect(node.Datacenter).toBe("dc-flag");
    expect(a.out()).toContain("is not used: Ruche serves Consul's catalog");
  });
});
