import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
import { formatDiagnostic, parseJob, type ParseJobOptions } from "./index.js";

async function ok(src: string, opts: ParseJobOptions = {}): Promise<Job> {
  const r = await parseJob(src, { file: "job.hcl", ...opts });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string): Promise<string[]> {
  const r = await parseJob(src, { file: "job.hcl" });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

function task(name: string, body: string): string {
  return `    task "${name}" {
      driver = "raw_exec"
      config { command = "/bin/cat" }
${body}
    }
`;
}

function job(...tasks: string[]): string {
  return `job "web" {
  group "g" {
${tasks.join("")}  }
}
`;
}

describe("a task's lifecycle block", () => {
  it("is read in HCL and JSON alike, with Nomad's field names; a task without one has none", async () => {
    const hcl = await ok(job(task("init", '      lifecycle { hook = "prestart" }'), task("proxy", '      lifecycle {\n        hook    = "prestart"\n        sidecar = true\n      }'), task("main", "")));
    const [init, proxy, main] = hcl.TaskGroups[0]?.Tasks ?? [];
    expect(init?.Lifecycle).toEqual({ Hook: "prestart", Sidecar: false });
    expect(proxy?.Lifecycle).toEqual({ Hook: "prestart", Sidecar: true });
    expect(main?.Lifecycle).toBeUndefined();
    expect(await ok(JSON.stringify({ Job: hcl }), { file: "job.json", format: "json" })).toEqual(hcl);
  });

  it("takes each of Nomad's three hooks", async () => {
    const j = await ok(job(task("a", '      lifecycle { hook = "poststart" }'), task("b", '      lifecycle { hook = "poststop" }'), task("main", "")));
    expect(j.TaskGroups[0]?.Tasks.map((t) => t.Lifecycle?.Hook)).toEqual(["poststart", "poststop", undefined]);
  });

  it("refuses a hook that is none of the three, or none, saying where", async () => {
    const bad = await errors(job(task("init", '      lifecycle { hook = "prestrat" }'), task("main", "")));
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatch(/^job\.hcl:\d+:\d+: .*lifecycle: invalid hook "prestrat"; hook must be one of prestart, poststart, poststop/);
    const none = await errors(job(task("init", "      lifecycle { sidecar = true }"), task("main", "")));
    expect(none.join("\n")).toMatch(/lifecycle: no hook given; hook must be one of prestart, poststart, poststop/);
  });

  it("refuses a group made only of lifecycle tasks: it needs a main task, as in Nomad", async () => {
    const errs = await errors(job(task("init", '      lifecycle { hook = "prestart" }'), task("after", '      lifecycle { hook = "poststop" }')));
    expect(errs.join("\n")).toMatch(/group "g" must have at least one main task/);
  });
});
