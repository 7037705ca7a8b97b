import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyConfigFiles } from "./commands/agent.js";
import { parseArgs } from "./args.js";
import { runCli, type IO } from "./index.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ruche-agent-config-"));
  await mkdir(join(dir, "conf.d"));
  await writeFile(join(dir, "conf.d", "10-server.hcl"), 'datacenter = "dc-a"\nserver {\n  enabled = true\n  bootstrap_expect = 1\n}\nclient {\n  meta { role = "web" }\n}\n');
  await writeFile(join(dir, "conf.d", "20-client.json"), JSON.stringify({ datacenter: "dc-b", client: { enabled: true, node_class: "edge", meta: { zone: "a" } } }));
  await writeFile(join(dir, "conf.d", "notes.txt"), "not read");
  await writeFile(join(dir, "bad.hcl"), 'server {\n  enabled = true\n  bootstrap_expect = 3\n}\ndatacentre = "x"\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SPEC = { config: { value: true, repeat: true }, datacenter: { value: true }, "node-class": { value: true }, meta: { value: true, repeat: true }, server: { value: false }, client: { value: false } } as const;

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
    expect(err).toContain(`${join(dir, "bad.hcl")}:3:3: server.bootstrap_expect: bootstrap_expect = 3: several servers are not built yet (issue 15)`);
    expect(err).toContain(`${join(dir, "bad.hcl")}:5:1: datacentre: unknown key "datacentre"; did you mean "datacenter"?`);
    const missing = await runCli(["agent", "-config", "nowhere.hcl"], io);
    expect(missing).not.toBe(0);
    expect(err).toContain("-config nowhere.hcl:");
  });
});
