import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs } from "./commands/agent.js";

const dir = mkdtempSync(join(tmpdir(), "ruche-agent-cni-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("an agent's CNI settings", () => {
  it("come from client { cni_path cni_config_dir } and -cni-path / -cni-config-dir, a flag over the file", async () => {
    const file = join(dir, "agent.hcl");
    writeFileSync(file, `client {\n  cni_path       = "/opt/cni/bin:/usr/lib/cni"\n  cni_config_dir = "/etc/cni/net.d"\n}\n`);
    const fromFile = (await agentConfigFromArgs(["-dev", "-config", file], dir)).config;
    expect(fromFile.cniPath).toBe("/opt/cni/bin:/usr/lib/cni");
    expect(fromFile.cniConfigDir).toBe("/etc/cni/net.d");
    const flags = (await agentConfigFromArgs(["-dev", "-config", file, "-cni-path", "/usr/lib/cni", "-cni-config-dir", "conf"], dir)).config;
    expect(flags.cniPath).toBe("/usr/lib/cni");
    // A relative dir is the agent's working directory's.
    expect(flags.cniConfigDir).toBe(join(dir, "conf"));
    // Unset: the agent uses Nomad's defaults, /opt/cni/bin and /opt/cni/config.
    const none = (await agentConfigFromArgs(["-dev"], dir)).config;
    expect(none.cniPath).toBeUndefined();
    expect(none.cniConfigDir).toBeUndefined();
  });

  it("refuses a cni_path that is not a string, saying where", async () => {
    const file = join(dir, "bad.hcl");
    writeFileSync(file, `client {\n  cni_path = 3\n}\n`);
    await expect(agentConfigFromArgs(["-dev", "-config", file], dir)).rejects.toThrow(/cni_path/);
  });
});
