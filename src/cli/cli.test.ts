import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DRIVER_NAMES } from "../structs/index.js";
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
        `  web.hcl:5:7: job.group[g].task[t].driver: unknown driver "dockr"; Ruche has ${DRIVER_NAMES.join(", ")}; did you mean "docker"?\n`,
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

  it("points to --local when given a job file without it", async () => {
    expect((await cli(["job", "inspect", "examples/demoapp.hcl"])).err).toMatch(/^Error: "examples\/demoapp.hcl" is a job file; to read a job from a file use --local FILE/);
  });
});

/** A port nothing listens on: one the system just gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

describe("commands that talk to the API", () => {
  it("say plainly when the API cannot be reached, at -address or else RUCHE_ADDR", async () => {
    const port = await closedPort();
    const viaEnv = await cli(["job", "status"], root, { RUCHE_ADDR: `127.0.0.1:${port}` });
    expect(viaEnv).toEqual({
      code: 1,
      out: "",
      err: `Error: cannot reach the Ruche API at http://127.0.0.1:${port}: ECONNREFUSED\n  Is a Ruche agent running there? Give its address with -address or RUCHE_ADDR.\n`,
    });
    const viaFlag = await cli(["node", "status", "-address", `http://127.0.0.1:${port}`], root, { RUCHE_ADDR: "127.0.0.1:1" });
    expect(viaFlag.err).toMatch(new RegExp(`^Error: cannot reach the Ruche API at http://127.0.0.1:${port}: ECONNREFUSED\\n`));
  });

  it("plan exits 255 on any error, as nomad plan does", async () => {
    const port = await closedPort();
    expect((await cli(["job", "plan", "examples/demoapp.hcl"], root, { RUCHE_ADDR: `127.0.0.1:${port}` })).code).toBe(255);
    expect((await cli(["job", "plan", "nope.hcl"])).code).toBe(255);
  });

  it("check their arguments before asking anything", async () => {
    expect((await cli(["job", "revert", "demoapp", "latest"])).err).toMatch(/^Error: VERSION must be a whole number, got "latest"\n\nUsage: ruche job revert/);
    expect((await cli(["job", "scale", "demoapp", "webs"])).err).toMatch(/^Error: this command needs ID GROUP COUNT\n/);
    expect((await cli(["job", "run", "-check-index", "x", "examples/demoapp.hcl"])).err).toMatch(/^Error: -check-index must be a whole number, got "x"\n/);
    expect((await cli(["node", "drain", "n1"])).err).toMatch(/^Error: give one of -enable or -disable\n/);
    expect((await cli(["node", "drain", "-enable", "-force", "-deadline", "1h", "n1"])).err).toMatch(/^Error: give only one of -deadline, -no-deadline and -force\n/);
    expect((await cli(["node", "drain", "-enable", "-deadline", "soon", "n1"])).err).toMatch(/^Error: -deadline must be a duration such as "30m" or "1h", got "soon"\n/);
    expect((await cli(["deployment", "list", "extra"])).err).toMatch(/^Error: unexpected argument "extra"\n/);
    for (const cmd of [["run"], ["plan"], ["status"], ["job", "history"], ["deployment", "promote"], ["eval", "status"], ["alloc", "status"], ["node", "eligibility"]]) {
      expect(await cli([...cmd, "-help"])).toMatchObject({ code: 0, out: expect.stringMatching(/^Usage: ruche /) as unknown });
    }
  });
});
