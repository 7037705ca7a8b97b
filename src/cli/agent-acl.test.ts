import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs } from "./commands/agent.js";

/** The ACL switch: `-acl-enabled` and the agent config's `acl { enabled }` (Nomad's), off by default, always off in -dev. */
let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ruche-agent-acl-"));
  await writeFile(join(dir, "on.hcl"), "acl {\n  enabled = true\n}\n");
  await writeFile(join(dir, "off.json"), JSON.stringify({ acl: { enabled: false } }));
  await writeFile(join(dir, "typo.hcl"), "acl {\n  enable = true\n}\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const server = ["-server", "-data-dir", "/tmp/ruche-acl-test-data"];

describe("the ACL switch", () => {
  it("is on by default outside -dev, and off by -acl-enabled=false or acl { enabled = false }", async () => {
    expect((await agentConfigFromArgs(server, dir)).config.acl).toEqual({ enabled: true });
    expect((await agentConfigFromArgs([...server, "-acl-enabled=false"], dir)).config.acl).toEqual({ enabled: false });
    expect((await agentConfigFromArgs([...server, "-config", "off.json"], dir)).config.acl).toEqual({ enabled: false });
  });

  it("is turned on by -acl-enabled or acl { enabled = true }, and off again by a later file", async () => {
    expect((await agentConfigFromArgs([...server, "-acl-enabled"], dir)).config.acl).toEqual({ enabled: true });
    expect((await agentConfigFromArgs([...server, "-config", "on.hcl"], dir)).config.acl).toEqual({ enabled: true });
    expect((await agentConfigFromArgs([...server, "-config", "on.hcl", "-config", "off.json"], dir)).config.acl).toEqual({ enabled: false });
  });

  it("stays off in -dev whatever the config says", async () => {
    expect((await agentConfigFromArgs(["-dev", "-acl-enabled"], dir)).config.acl).toEqual({ enabled: false });
    expect((await agentConfigFromArgs(["-dev", "-config", "on.hcl"], dir)).config.acl).toEqual({ enabled: false });
  });

  it("refuses an unknown key of the acl block with where it is", async () => {
    await expect(agentConfigFromArgs([...server, "-config", "typo.hcl"], dir)).rejects.toThrow(/typo\.hcl:2:\d+/);
  });
});
