import { describe, expect, it } from "vitest";
import { defaultDisconnect, NS, type Job } from "../structs/index.js";
import { formatDiagnostic, parseJob } from "./index.js";

/** A job with one group whose body is `group`, in HCL. */
function hcl(group: string): string {
  return `job "j" {
  datacenters = ["dc1"]
  group "g" {
${group}
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
`;
}

async function ok(src: string, format: "hcl" | "json" = "hcl"): Promise<Job> {
  const r = await parseJob(src, { file: format === "hcl" ? "job.hcl" : "job.json", format });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string, format: "hcl" | "json" = "hcl"): Promise<string[]> {
  const r = await parseJob(src, { file: format === "hcl" ? "job.hcl" : "job.json", format });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

function json(group: Record<string, unknown>): string {
  return JSON.stringify({ Job: { ID: "j", Datacenters: ["dc1"], TaskGroups: [{ Name: "g", Tasks: [{ Name: "t", Driver: "raw_exec", Config: { command: "/bin/true" } }], ...group }] } });
}

describe("the group's disconnect block (Nomad 1.8)", () => {
  it("without one, a group gets Ruche's defaults: unknown for 5 minutes, replaced, the longest running kept", async () => {
    const j = await ok(hcl(""));
    expect(j.TaskGroups[0]!.Disconnect).toEqual({ LostAfter: 5 * NS.minute, Replace: true, Reconcile: "longest_running" });
    expect(defaultDisconnect()).toEqual(j.TaskGroups[0]!.Disconnect);
  });

  it("reads lost_after, replace and reconcile; what it leaves out keeps its default", async () => {
    const j = await ok(hcl(`    disconnect {
      lost_after = "1h"
      replace    = false
      reconcile  = "keep_original"
    }`));
    expect(j.TaskGroups[0]!.Disconnect).toEqual({ LostAfter: NS.hour, Replace: false, Reconcile: "keep_original" });
    const partial = await ok(hcl(`    disconnect {
      reconcile = "best_score"
    }`));
    expect(partial.TaskGroups[0]!.Disconnect).toEqual({ LostAfter: 5 * NS.minute, Replace: true, Reconcile: "best_score" });
  });

  it('lost_after = "0s": lost at once, as Nomad without the block', async () => {
    const j = await ok(hcl(`    disconnect {
      lost_after = "0s"
    }`));
    expect(j.TaskGroups[0]!.Disconnect?.LostAfter).toBe(0);
  });

  it("the JSON form", async () => {
    const j = await ok(json({ Disconnect: { LostAfter: 30 * NS.second, Replace: true, Reconcile: "keep_replacement" } }), "json");
    expect(j.TaskGroups[0]!.Disconnect).toEqual({ LostAfter: 30 * NS.second, Replace: true, Reconcile: "keep_replacement" });
  });

  it("max_client_disconnect (before Nomad 1.8) is lost_after", async () => {
    const j = await ok(hcl(`    max_client_disconnect = "2m"`));
    expect(j.TaskGroups[0]!.Disconnect).toEqual({ LostAfter: 2 * NS.minute, Replace: true, Reconcile: "longest_running" });
    const k = await ok(json({ MaxClientDisconnect: 90 * NS.second }), "json");
    expect(k.TaskGroups[0]!.Disconnect?.LostAfter).toBe(90 * NS.second);
  });

  it("refuses a wrong reconcile, a negative lost_after, both forms at once, and stop_on_client_after", async () => {
    expect(await errors(hcl(`    disconnect {
      reconcile = "longest-running"
    }`))).toEqual([expect.stringMatching(/reconcile must be one of keep_original, keep_replacement, best_score, longest_running, got "longest-running".*did you mean "longest_running"/)]);
    expect((await errors(hcl(`    disconnect {
      lost_after = "-5m"
    }`))).join("\n")).toMatch(/lost_after.*must not be negative/);
    expect((await errors(hcl(`    max_client_disconnect = "1m"
    disconnect {
      lost_after = "1m"
    }`))).join("\n")).toMatch(/using both max_client_disconnect and disconnect is not allowed/);
    expect((await errors(hcl(`    disconnect {
      stop_on_client_after = "1m"
    }`))).join("\n")).toMatch(/"stop_on_client_after" is a Nomad feature Ruche does not support yet/);
  });
});
