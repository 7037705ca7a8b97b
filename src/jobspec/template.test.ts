import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
import { diffJobs, formatDiagnostic, parseJob } from "./index.js";

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

function job(templates: string): string {
  return `job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/cat" }
${templates}
    }
  }
}
`;
}

const NS = 1_000_000_000;

describe("a task's template blocks", () => {
  it("are read in HCL with Nomad's defaults, several per task", async () => {
    const j = await ok(
      job(`      template {
        data        = "port={{ key \\"app/port\\" }}"
        destination = "local/app.conf"
      }
      template {
        source          = "local/in.tpl"
        destination     = "secrets/app.env"
        env             = true
        change_mode     = "signal"
        change_signal   = "SIGHUP"
        splay           = "10s"
        perms           = "0600"
        uid             = 1000
        gid             = 1000
        left_delimiter  = "[["
        right_delimiter = "]]"
        error_on_missing_key = true
        wait {
          min = "2s"
          max = "10s"
        }
      }
      template {
        data        = "x"
        destination = "local/x"
        change_mode = "script"
        change_script {
          command       = "/bin/reload"
          args          = ["-q"]
          timeout       = "3s"
          fail_on_error = true
        }
      }`),
    );
    const [a, b, c] = j.TaskGroups[0]?.Tasks[0]?.Templates ?? [];
    expect(a).toEqual({
      SourcePath: "",
      DestPath: "local/app.conf",
      EmbeddedTmpl: 'port={{ key "app/port" }}',
      ChangeMode: "restart",
      ChangeSignal: "",
      ChangeScript: null,
      Splay: 5 * NS,
      Perms: "0644",
      Uid: -1,
      Gid: -1,
      LeftDelim: "{{",
      RightDelim: "}}",
      Envvars: false,
      VaultGrace: 0,
      Wait: null,
      ErrMissingKey: false,
      Once: false,
    });
    expect(b).toMatchObject({ SourcePath: "local/in.tpl", Envvars: true, ChangeMode: "signal", ChangeSignal: "SIGHUP", Splay: 10 * NS, Perms: "0600", Uid: 1000, Gid: 1000, LeftDelim: "[[", RightDelim: "]]", ErrMissingKey: true, Wait: { Min: 2 * NS, Max: 10 * NS } });
    expect(c?.ChangeScript).toEqual({ Command: "/bin/reload", Args: ["-q"], Timeout: 3 * NS, FailOnError: true });
  });

  it("are read in JSON as Nomad's API writes them (Templates)", async () => {
    const j = await ok(
      JSON.stringify({
        Job: {
          ID: "web",
          TaskGroups: [{ Name: "g", Tasks: [{ Name: "t", Driver: "raw_exec", Config: { command: "/bin/cat" }, Templates: [{ EmbeddedTmpl: "x", DestPath: "local/x", ChangeMode: "noop", Splay: 0, Wait: { Min: NS, Max: 2 * NS } }] }] }],
        },
      }),
      "job.json",
    );
    expect(j.TaskGroups[0]?.Tasks[0]?.Templates?.[0]).toMatchObject({ EmbeddedTmpl: "x", DestPath: "local/x", ChangeMode: "noop", Splay: 0, Perms: "0644", Wait: { Min: NS, Max: 2 * NS } });
  });

  it("are read as Nomad's Go client sends them, nulls for what is not set", async () => {
    const body = {
      Job: {
        ID: "web",
        TaskGroups: [
          {
            Name: "g",
            Tasks: [
              {
                Name: "t",
                Driver: "raw_exec",
                Config: { command: "/bin/cat" },
                Templates: [{ SourcePath: null, DestPath: "local/x", EmbeddedTmpl: "x", ChangeMode: null, ChangeSignal: null, ChangeScript: null, Splay: null, Perms: null, Uid: null, Gid: null, LeftDelim: null, RightDelim: null, Envvars: null, VaultGrace: null, Wait: null, ErrMissingKey: null }],
              },
            ],
          },
        ],
      },
    };
    const r = await parseJob(JSON.stringify(body), { file: "job.json", api: true });
    if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
    expect(r.job.TaskGroups[0]?.Tasks[0]?.Templates?.[0]).toMatchObject({ DestPath: "local/x", ChangeMode: "restart", Splay: 5 * NS, Perms: "0644", LeftDelim: "{{", Uid: -1, Wait: null, ChangeScript: null });
  });

  it("are refused, saying where and why, when Nomad would refuse them", async () => {
    const errs = await errors(
      job(`      template {
        destination = "local/a"
      }
      template {
        data        = "x"
        destination = "../../../etc/passwd"
        change_mode = "reload"
      }
      template {
        data        = "x"
        destination = "local/b"
        change_mode = "signal"
        perms       = "rw"
      }
      template {
        data        = "x"
        destination = "local/c"
        change_mode = "script"
        wait {
          min = "10s"
          max = "1s"
        }
      }`),
    );
    const text = errs.join("\n");
    expect(text).toContain("give the template inline (data) or a file (source)");
    expect(text).toContain('destination "../../../etc/passwd" escapes the allocation directory');
    expect(text).toMatch(/invalid change_mode "reload"; it must be one of noop, restart, signal, script/);
    expect(text).toContain("change_mode signal needs change_signal");
    expect(text).toContain('perms "rw" is not an octal file mode');
    expect(text).toContain("change_mode script needs change_script");
    expect(text).toContain("wait min (10s) is longer than max (1s)");
  });

  it("show in the plan's diff, a change replacing the allocations", async () => {
    const before = await ok(job(`      template {\n        data = "a"\n        destination = "local/x"\n      }`));
    const after = await ok(job(`      template {\n        data = "b"\n        destination = "local/x"\n        wait {\n          min = "1s"\n          max = "2s"\n        }\n      }`));
    const diff = diffJobs(before, after);
    const task = diff.TaskGroups[0]?.Tasks[0];
    const tm = task?.Objects.find((o) => o.Name === "Template");
    expect(tm?.Type).toBe("Edited");
    expect(tm?.Fields.filter((f) => f.Type !== "None").map((f) => [f.Name, f.Old, f.New])).toEqual([
      ["EmbeddedTmpl", "a", "b"],
      ["Wait.Max", "", String(2 * NS)],
      ["Wait.Min", "", String(NS)],
    ]);
    expect(task?.Annotations).toEqual(["forces create/destroy update"]);
  });

  it("refuses a field Nomad's template block does not have", async () => {
    const errs = await errors(job(`      template {\n        data = "x"\n        destination = "local/x"\n        mode = "fast"\n      }`));
    expect(errs.join("\n")).toMatch(/mode/);
  });
});
