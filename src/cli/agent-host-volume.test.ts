import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { agentConfigFromArgs } from "./commands/agent.js";

const dir = mkdtempSync(join(tmpdir(), "ruche-agent-host-volume-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("an agent's host volumes", () => {
  it("come from the config's host_volume blocks and -host-volume, a later one of a name replacing an earlier one", async () => {
    const data = mkdtempSync(join(dir, "data-"));
    const certs = mkdtempSync(join(dir, "certs-"));
    const file = join(dir, "agent.hcl");
    writeFileSync(file, `client {\n  host_volume "data" {\n    path = "${data}"\n  }\n  host_volume "certs" {\n    path      = "${certs}"\n    read_only = true\n  }\n}\n`);
    const { config } = await agentConfigFromArgs(["-dev", "-config", file, "-host-volume", `extra=${data}:ro`], dir);
    expect(config.hostVolumes).toEqual({ extra: { Name: "extra", Path: data, ReadOnly: true } });
    const fromFile = await agentConfigFromArgs(["-dev", "-config", file], dir);
    expect(fromFile.config.hostVolumes).toEqual({ data: { Name: "data", Path: data, ReadOnly: false }, certs: { Name: "certs", Path: certs, ReadOnly: true } });
    expect((await agentConfigFromArgs(["-dev"], dir)).config.hostVolumes).toBeUndefined();
  });

  it("refuse to start with a path that does not exist, or a flag not NAME=PATH, saying which", async () => {
    const missing = join(dir, "nowhere");
    const file = join(dir, "missing.hcl");
    writeFileSync(file, `client {\n  host_volume "data" {\n    path = "${missing}"\n  }\n}\n`);
    await expect(agentConfigFromArgs(["-dev", "-config", file], dir)).rejects.toThrow(`host volume "data": its path ${missing} cannot be used: ENOENT`);
    await expect(agentConfigFromArgs(["-dev", "-host-volume", "data"], dir)).rejects.toThrow('-host-volume takes NAME=PATH or NAME=PATH:ro (NAME of letters, digits, ".", "_", "-", and "[N]" after them for a per_alloc volume), got "data"');
  });
});
