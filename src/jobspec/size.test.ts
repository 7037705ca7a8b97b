import { describe, expect, it } from "vitest";
import { LIMITS } from "../structs/index.js";
import { formatDiagnostic, parseJob } from "./index.js";

const many = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join("\n");

/** A valid job in the API's JSON form, with `edit` applied to it. */
function jsonJob(edit: (job: Record<string, unknown>, group: Record<string, unknown>, task: Record<string, unknown>) => void): string {
  const task: Record<string, unknown> = { Name: "t", Driver: "mock" };
  const group: Record<string, unknown> = { Name: "g", Tasks: [task] };
  const job: Record<string, unknown> = { ID: "big", Datacenters: ["dc1"], TaskGroups: [group] };
  edit(job, group, task);
  return JSON.stringify(job);
}

async function problems(text: string, format: "hcl" | "json"): Promise<string[]> {
  const r = await parseJob(text, { file: format === "hcl" ? "big.hcl" : "request", format });
  return r.ok ? [] : r.diagnostics.map(formatDiagnostic);
}

describe("job size limits", () => {
  it("refuses a job naming more datacenters than the limit, naming the field, its count and the limit", async () => {
    const dcs = Array.from({ length: 100_000 }, (_, i) => `dc${i}`);
    expect(await problems(jsonJob((j) => (j.Datacenters = dcs)), "json")).toEqual(["request: Job.Datacenters: too many datacenters (100,000); the limit is 1,000"]);
    const hcl = `job "big" {\n  datacenters = [${dcs.slice(0, LIMITS.maxDatacenters + 1).map((d) => `"${d}"`).join(", ")}]\n  group "g" {\n    task "t" {\n      driver = "mock"\n    }\n  }\n}\n`;
    expect(await problems(hcl, "hcl")).toEqual(["big.hcl:2:3: job.datacenters: too many datacenters (1,001); the limit is 1,000"]);
    // At the limit, the job is fine.
    expect(await problems(jsonJob((j) => (j.Datacenters = dcs.slice(0, LIMITS.maxDatacenters))), "json")).toEqual([]);
  });

  it("refuses too many groups, tasks, meta entries, constraints, services, tags, env variables and ports, each at its path", async () => {
    const n = (max: number): number => max + 1;
    const cases: [string, (j: Record<string, unknown>, g: Record<string, unknown>, t: Record<string, unknown>) => void, string][] = [
      ["groups", (j) => (j.TaskGroups = Array.from({ length: n(LIMITS.maxGroups) }, (_, i) => ({ Name: `g${i}`, Tasks: [{ Name: "t", Driver: "mock" }] }))), "TaskGroups: too many groups (1,001)"],
      ["tasks", (_j, g) => (g.Tasks = Array.from({ length: n(LIMITS.maxTasksPerGroup) }, (_, i) => ({ Name: `t${i}`, Driver: "mock" }))), "TaskGroups[0].Tasks: too many tasks in the group (1,001)"],
      ["job meta", (j) => (j.Meta = Object.fromEntries(Array.from({ length: n(LIMITS.maxMetaEntries) }, (_, i) => [`k${i}`, "v"]))), "Meta: too many meta entries (1,001)"],
      ["task meta", (_j, _g, t) => (t.Meta = Object.fromEntries(Array.from({ length: n(LIMITS.maxMetaEntries) }, (_, i) => [`k${i}`, "v"]))), "TaskGroups[0].Tasks[0].Meta: too many meta entries (1,001)"],
      ["constraints", (_j, g) => (g.Constraints = Array.from({ length: n(LIMITS.maxConstraints) }, (_, i) => ({ LTarget: "${attr.kernel.name}", RTarget: `k${i}`, Operand: "=" }))), "TaskGroups[0].Constraints: too many constraints (1,001)"],
      ["services", (_j, g) => (g.Services = Array.from({ length: n(LIMITS.maxServices) }, (_, i) => ({ Name: `s${i}` }))), "TaskGroups[0].Services: too many services (1,001)"],
      ["tags", (_j, _g, t) => (t.Services = [{ Name: "s", Tags: Array.from({ length: n(LIMITS.maxTags) }, (_, i) => `t${i}`) }]), "TaskGroups[0].Tasks[0].Services[0].Tags: too many tags (1,001)"],
      ["env", (_j, _g, t) => (t.Env = Object.fromEntries(Array.from({ length: n(LIMITS.maxEnvEntries) }, (_, i) => [`E${i}`, "v"]))), "TaskGroups[0].Tasks[0].Env: too many environment variables (10,001)"],
      ["ports", (_j, g) => (g.Networks = [{ DynamicPorts: Array.from({ length: n(LIMITS.maxPorts) }, (_, i) => ({ Label: `p${i}` })) }]), "TaskGroups[0].Networks[0]: too many ports (1,001)"],
    ];
    for (const [what, edit, message] of cases) {
      const got = await problems(jsonJob(edit), "json");
      expect(got, what).toEqual([expect.stringContaining(`request: Job.${message}; the limit is `)]);
    }
    // In HCL too, at the line of the block.
    const meta = `job "big" {\n  group "g" {\n    task "t" {\n      driver = "mock"\n      meta {\n${many(LIMITS.maxMetaEntries + 1, (i) => `        k${i} = "v"`)}\n      }\n    }\n  }\n}\n`;
    expect(await problems(meta, "hcl")).toEqual(["big.hcl:5:7: job.group[g].task[t].meta: too many meta entries (1,001); the limit is 1,000"]);
  });
});
