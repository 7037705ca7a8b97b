import { describe, expect, it } from "vitest";
import type { Job, Task } from "../structs/index.js";
import { Annotation, DiffType, diffJobs, formatDiagnostic, parseAgentConfig, parseJob } from "./index.js";

async function ok(src: string, file = "job.hcl"): Promise<Job> {
  const r = await parseJob(src, { file });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string): Promise<string[]> {
  const r = await parseJob(src, { file: "job.hcl" });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

const job = (artifacts: string): string => `job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
${artifacts}
    }
  }
}
`;

const taskOf = (j: Job): Task => j.TaskGroups[0]?.Tasks[0] as Task;

describe("artifact blocks", () => {
  it("read every field in HCL, with Nomad's defaults: mode any, destination local/ (local/<file> in mode file)", async () => {
    const j = await ok(
      job(`      artifact {
        source      = "https://example.com/app.tar.gz"
        destination = "local/app"
        insecure    = true
        options {
          checksum = "sha256:${"a".repeat(64)}"
        }
        headers {
          X-Token = "\${NOMAD_META_token}"
        }
      }
      artifact {
        source = "https://example.com/bin/tool-\${attr.cpu.arch}"
        mode   = "file"
      }
      artifact {
        source = "https://example.com/readme.txt"
      }`),
    );
    expect(taskOf(j).Artifacts).toEqual([
      { GetterSource: "https://example.com/app.tar.gz", GetterOptions: { checksum: `sha256:${"a".repeat(64)}` }, GetterHeaders: { "X-Token": "${NOMAD_META_token}" }, GetterMode: "any", GetterInsecure: true, RelativeDest: "local/app", Chown: false },
      { GetterSource: "https://example.com/bin/tool-${attr.cpu.arch}", GetterOptions: null, GetterHeaders: null, GetterMode: "file", GetterInsecure: false, RelativeDest: "local/tool-${attr.cpu.arch}", Chown: false },
      { GetterSource: "https://example.com/readme.txt", GetterOptions: null, GetterHeaders: null, GetterMode: "any", GetterInsecure: false, RelativeDest: "local/", Chown: false },
    ]);
  });

  it("read Nomad's JSON as its Go client sends it (nulls for what is not set), to the same job", async () => {
    const hcl = await ok(job(`      artifact {
        source = "https://example.com/readme.txt"
        options { checksum = "md5:${"0".repeat(32)}" }
      }`));
    const json = await ok(
      JSON.stringify({
        Job: {
          ID: "web",
          TaskGroups: [{ Name: "g", Tasks: [{ Name: "t", Driver: "raw_exec", Config: { command: "/bin/true" }, Artifacts: [{ GetterSource: "https://example.com/readme.txt", GetterOptions: { checksum: `md5:${"0".repeat(32)}` }, GetterHeaders: null, GetterMode: null, GetterInsecure: null, RelativeDest: null, Chown: false }] }] }],
        },
      }),
      "job.json",
    );
    expect(taskOf(json).Artifacts).toEqual(taskOf(hcl).Artifacts);
  });

  it("refuse, with where, what Nomad refuses and what Ruche cannot fetch", async () => {
    const errs = await errors(
      job(`      artifact {
        source      = "https://example.com/x"
        destination = "../../etc"
        mode        = "folder"
      }
      artifact {
        source = "s3::https://s3.amazonaws.com/bucket/x"
      }
      artifact {
        source  = "https://example.com/y"
        options { checksum = "sha256:1234" }
      }
      artifact {
        source = "https://example.com/z.gz"
      }
      artifact {
        chown  = true
        source = "https://example.com/w"
        destination = "/../../usr/local/bin"
      }
      artifact {
        source      = "https://example.com/app.zip"
        destination = "/app/latest"
        mode        = "file"
      }`),
    );
    const at = "job.group[g].task[t].artifact";
    expect(errs).toEqual([
      `job.hcl:8:9: ${at}[0].destination: artifact destination "../../etc" escapes the allocation directory`,
      `job.hcl:9:9: ${at}[0].mode: invalid artifact mode "folder"; must be one of: any, file, dir`,
      `job.hcl:12:9: ${at}[1].source: artifact download not supported for scheme 's3': Ruche fetches artifacts over http(s), from local files and with git`,
      `job.hcl:16:19: ${at}[2].options.checksum: invalid sha256 checksum: 1234 (a sha256 sum has 64 hex digits)`,
      `job.hcl:18:7: ${at}[3].mode: a .gz file unpacks to a single file: set mode = "file" (and destination to the file's path), or archive = "false" in options`,
      `job.hcl:22:9: ${at}[4].chown: artifact chown is not supported yet: the files belong to the agent's user; remove chown`,
      `job.hcl:24:9: ${at}[4].destination: artifact destination "/../../usr/local/bin" escapes the allocation directory`,
    ]);
  });

  it("leave what holds ${...} to the node, once interpolated", async () => {
    const j = await ok(job(`      artifact {
        source      = "\${NOMAD_META_url}"
        destination = "\${NOMAD_ALLOC_DIR}/shared"
        options { checksum = "\${NOMAD_META_sum}" }
      }`));
    expect(taskOf(j).Artifacts?.[0]?.RelativeDest).toBe("${NOMAD_ALLOC_DIR}/shared");
  });

  it("show in a plan's diff as Nomad's set of artifacts, a change forcing a create/destroy update", async () => {
    const one = await ok(job(`      artifact {
        source = "https://example.com/a.txt"
        options { checksum = "md5:${"0".repeat(32)}" }
      }`));
    const two = await ok(job(`      artifact {
        source = "https://example.com/a.txt"
        options { checksum = "md5:${"1".repeat(32)}" }
      }`));
    const task = diffJobs(one, two).TaskGroups[0]?.Tasks[0];
    const artifacts = task?.Objects.filter((o) => o.Name === "Artifact") ?? [];
    expect(artifacts.map((o) => [o.Type, o.Fields.find((f) => f.Name === "GetterOptions[checksum]")?.[o.Type === DiffType.Added ? "New" : "Old"]])).toEqual([
      [DiffType.Deleted, `md5:${"0".repeat(32)}`],
      [DiffType.Added, `md5:${"1".repeat(32)}`],
    ]);
    expect(task?.Annotations).toEqual([Annotation.ForcesDestructiveUpdate]);
    expect(diffJobs(one, one).TaskGroups[0]?.Tasks[0]?.Objects.find((o) => o.Name === "Artifact")?.Type).toBe(DiffType.None);
  });

  it("an agent config's client artifact block is refused, saying its options are not configurable yet", async () => {
    const r = await parseAgentConfig('client {\n  enabled = true\n  artifact {\n    http_read_timeout = "5m"\n  }\n}\n', "agent.hcl");
    expect(r.ok ? [] : r.diagnostics.map(formatDiagnostic)).toEqual([
      "agent.hcl:3:3: client.artifact: client artifact: the options of artifact downloads (timeouts, size limits, disable_filesystem_isolation) are not configurable yet; remove the block (local sources outside the allocation are read only on nodes that run raw_exec)",
    ]);
  });
});
