import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli, type IO } from "./index.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

async function cli(argv: string[], cwd = root, env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = { out: (t) => (out += t), err: (t) => (err += t), env, cwd };
  const code = await runCli(argv, io);
  return { code, out, err };
}

describe("ruche job validate", () => {
  it("accepts the demo job in both syntaxes", async () => {
    for (const f of ["examples/demoapp.hcl", "examples/demoapp-current.hcl"]) {
      expect(await cli(["job", "validate", f])).toEqual({ code: 0, out: "Job validation successful\n", err: "" });
    }
    expect((await cli(["validate", "examples/demoapp.hcl"])).code).toBe(0);
  });

  it("prints every mistake with its place and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-cli-"));
    writeFileSync(join(dir, "web.hcl"), 'job "web" {\n  group "g" {\n    cout = 2\n    task "t" {\n      driver = "dockr"\n    }\n  }\n}\n');
    expect(await cli(["job", "validate", "web.hcl"], dir)).toEqual({
      code: 1,
      out: "",
      err:
        "Job validation errors (2):\n" +
        '  web.hcl:3:5: job.group[g].cout: unknown attribute "cout" in group; did you mean "count"?\n' +
        '  web.hcl:5:7: job.group[g].task[t].driver: unknown driver "dockr"; Ruche has docker, exec, raw_exec, mock; did you mean "docker"?\n',
    });
  });

  it("takes -var, -var-file and NOMAD_VAR_ for HCL2 variables", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ruche-cli-"));
    writeFileSync(
      join(dir, "v.hcl"),
      'variable "n" { type = number }\nvariable "img" {}\njob "v" {\n  group "g" {\n    count = var.n\n    task "t" {\n      driver = "docker"\n      config { image = var.img }\n    }\n  }\n}\n',
    );
    writeFileSync(join(dir, "vars.hcl"), 'img = "httpd"\n');
    const inspected = await cli(["job", "inspect", "--local", "-var", "n=3", "-var-file=vars.hcl", "v.hcl"], dir);
    expect(inspected.code).toBe(0);
    const job = (JSON.parse(inspected.out) as { Job: { TaskGroups: { Count: number; Tasks: { Config: { image: string } }[] }[] } }).Job;
    expect(job.TaskGroups[0]!.Count).toBe(3);
    expect(job.TaskGroups[0]!.Tasks[0]!.Config.image).toBe("httpd");
    expect((await cli(["job", "validate", "-var", "n=1", "v.hcl"], dir, { NOMAD_VAR_img: "x" })).code).toBe(0);
    expect(await cli(["job", "validate", "-var", "n=1", "v.hcl"], dir)).toEqual({
      code: 1,
      out: "",
      err: 'Job validation errors (1):\n  v.hcl:2:1: var.img: variable "img" has no default and no value was given; set it with -var img=... or a var file\n',
    });
  });

  it("explains a usage mistake", async () => {
    const missing = await cli(["job", "validate", "nope.hcl"]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^Error: cannot read nope.hcl: no such file\n\nUsage: ruche job validate/);
    expect((await cli(["job", "validate"])).err).toMatch(/^Error: this command needs a job file/);
    expect((await cli(["job", "validate", "-frobnicate", "x.hcl"])).err).toMatch(/^Error: unknown flag -frobnicate/);
    expect((await cli(["job", "validate", "-var", "novalue", "examples/demoapp.hcl"])).err).toMatch(/^Error: -var takes name=value, got "novalue"/);
    expect(await cli(["jbo", "validate"])).toMatchObject({ code: 1, err: expect.stringMatching(/^unknown command: jbo validate/) as unknown });
    expect(await cli(["job", "validate", "-help"])).toMatchObject({ code: 0, out: expect.stringMatching(/^Usage: ruche job validate/) as unknown });
  });
});

describe("ruche job inspect --local", () => {
  it("prints the canonical job in the API's JSON form, which reads back the same", async () => {
    const r = await cli(["job", "inspect", "--local", "examples/demoapp.hcl"]);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.out) as { Job: { ID: string } };
    expect(parsed.Job.ID).toBe("demoapp");
    const dir = mkdtempSync(join(tmpdir(), "ruche-cli-"));
    writeFileSync(join(dir, "demoapp.json"), r.out);
    expect((await cli(["job", "inspect", "--local", "demoapp.json"], dir)).out).toBe(r.out);
  });

  it("asks for --local until the server exists", async () => {
    expect((await cli(["job", "inspect", "examples/demoapp.hcl"])).err).toMatch(/use --local FILE/);
  });
});
