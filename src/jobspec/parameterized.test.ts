import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
import { formatDiagnostic, parseJob, type ParseJobOptions } from "./index.js";

async function ok(src: string, opts: ParseJobOptions = {}): Promise<Job> {
  const r = await parseJob(src, { file: "job.hcl", ...opts });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string, opts: ParseJobOptions = {}): Promise<string[]> {
  const r = await parseJob(src, { file: "job.hcl", ...opts });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

function job(type: string, jobBody: string, taskBody = "", groupBody = ""): string {
  return `job "report" {
  type = "${type}"
${jobBody}
  group "g" {
${groupBody}
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/cat" }
${taskBody}
    }
  }
}
`;
}

describe("parameterized jobs", () => {
  it("read the parameterized block and the task's dispatch_payload, in HCL and JSON alike", async () => {
    const hcl = await ok(
      job(
        "batch",
        `  parameterized {
    payload       = "required"
    meta_required = ["size"]
    meta_optional = ["color"]
  }`,
        `      dispatch_payload { file = "input/data.json" }`,
      ),
    );
    expect(hcl.ParameterizedJob).toEqual({ Payload: "required", MetaRequired: ["size"], MetaOptional: ["color"] });
    expect(hcl.TaskGroups[0]?.Tasks[0]?.DispatchPayload).toEqual({ File: "input/data.json" });
    const json = await ok(JSON.stringify({ Job: hcl }), { file: "job.json", format: "json" });
    expect(json).toEqual(hcl);
  });

  it("default the payload to optional and the meta lists to none, as Nomad's", async () => {
    const j = await ok(job("sysbatch", "  parameterized {}"));
    expect(j.ParameterizedJob).toEqual({ Payload: "optional", MetaRequired: [], MetaOptional: [] });
    expect((await ok(job("batch", ""))).ParameterizedJob).toBeUndefined();
  });

  it("are refused on a service or system job, with an unknown payload mode, or a key both required and optional", async () => {
    expect(await errors(job("service", "  parameterized {}"))).toEqual(['job.hcl:3:3: job.parameterized: a parameterized job must be of type "batch" or "sysbatch", not "service"']);
    expect(await errors(job("batch", '  parameterized {\n    payload = "requird"\n    meta_required = ["a", "b"]\n    meta_optional = ["b"]\n  }'))).toEqual([
      'job.hcl:4:5: job.parameterized.payload: payload must be one of optional, required, forbidden, got "requird"; did you mean "required"?',
      'job.hcl:6:5: job.parameterized.meta_optional: meta_required and meta_optional must not share keys; both have "b"',
    ]);
  });

  it("refuse a dispatch_payload file that leaves the task's directory", async () => {
    const errs = await errors(job("batch", "  parameterized {}", '      dispatch_payload { file = "../../../etc/passwd" }'));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/dispatch_payload: file "\.\.\/\.\.\/\.\.\/etc\/passwd" escapes the allocation directory/);
    await ok(job("batch", "  parameterized {}", '      dispatch_payload { file = "../local/x" }'));
  });
});

describe("sysbatch jobs", () => {
  it("are a job type, with the batch restart policy and neither update nor reschedule policy", async () => {
    const j = await ok(job("sysbatch", ""));
    expect(j.Type).toBe("sysbatch");
    const g = j.TaskGroups[0];
    expect(g?.Update).toBeNull();
    expect(g?.ReschedulePolicy).toBeNull();
    expect(g?.RestartPolicy).toMatchObject({ Attempts: 3, Mode: "fail" });
  });

  it("refuse a reschedule or update block, saying why", async () => {
    expect(await errors(job("sysbatch", "", "", "    reschedule { attempts = 1 }"))).toEqual([
      "job.hcl:5:5: job.group[g].reschedule: sysbatch jobs run on every node and are never rescheduled elsewhere; remove the reschedule block",
    ]);
    expect(await errors(job("sysbatch", "  update { max_parallel = 1 }"))).toEqual(["job.hcl:3:3: job.update: sysbatch jobs are not updated in rolling fashion; remove the update block"]);
  });
});
