import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
import { formatDiagnostic, parseJob } from "./index.js";

async function parse(src: string, file = "job.hcl"): Promise<{ job?: Job; errors: string[] }> {
  const r = await parseJob(src, { file });
  return r.ok ? { job: r.job, errors: [] } : { errors: r.diagnostics.map(formatDiagnostic) };
}

function job(network: string): string {
  return `job "web" {
  group "g" {
    network {
${network}
    }
    task "t" {
      driver = "docker"
      config {
        image = "busybox"
      }
    }
  }
}
`;
}

describe("network mode cni/<name>", () => {
  it("is accepted with its cni { args }, in HCL and in JSON alike", async () => {
    const { job: j, errors } = await parse(job(`      mode = "cni/mynet"
      port "http" {
        to = 8080
      }
      cni {
        args = {
          TEAM = "\${NOMAD_JOB_NAME}"
        }
      }`));
    expect(errors).toEqual([]);
    expect(j?.TaskGroups[0]?.Networks[0]).toMatchObject({ Mode: "cni/mynet", CNI: { Args: { TEAM: "${NOMAD_JOB_NAME}" } } });
    const json = JSON.stringify({ Job: { ID: "web", TaskGroups: [{ Name: "g", Networks: [{ Mode: "cni/mynet", CNI: { Args: { A: "b" } } }], Tasks: [{ Name: "t", Driver: "docker", Config: { image: "busybox" } }] }] } });
    const fromJson = await parse(json, "job.json");
    expect(fromJson.errors).toEqual([]);
    expect(fromJson.job?.TaskGroups[0]?.Networks[0]).toMatchObject({ Mode: "cni/mynet", CNI: { Args: { A: "b" } } });
  });

  it("needs a network name, and args CNI_ARGS can carry", async () => {
    expect((await parse(job(`      mode = "cni/"`))).errors.join("\n")).toMatch(/mode "cni\/" names no CNI network: write cni\/<name>/);
    expect((await parse(job(`      mode = "cni/x"
      cni {
        args = { "A" = "1;2" }
      }`))).errors.join("\n")).toMatch(/CNI arg "A" may not hold ";"/);
  });

  it("keeps cni { args } to CNI and bridge networks (Nomad's bridge plugins ignore them)", async () => {
    expect((await parse(job(`      mode = "bridge"
      cni {
        args = { A = "1" }
      }`))).errors).toEqual([]);
    expect((await parse(job(`      mode = "host"
      cni {
        args = { A = "1" }
      }`))).errors.join("\n")).toMatch(/cni \{ args \} is for a network in mode cni\/<name> \(or bridge\), not in mode "host"/);
  });

  it("names the modes there are for a mistyped one", async () => {
    expect((await parse(job(`      mode = "brigde"`))).errors.join("\n")).toMatch(/mode must be one of host, bridge, none or cni\/<name>, got "brigde"/);
  });
});
