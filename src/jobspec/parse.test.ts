import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  defaultEphemeralDisk,
  defaultLogConfig,
  defaultMigrateStrategy,
  defaultReschedulePolicy,
  defaultUpdateStrategy,
  DRIVER_NAMES,
  NS,
  type Job,
} from "../structs/index.js";
import { formatDiagnostic, parseJob, type ParseJobOptions } from "./index.js";

const demoOld = readFileSync(new URL("../../examples/demoapp.hcl", import.meta.url));
const demoNew = readFileSync(new URL("../../examples/demoapp-current.hcl", import.meta.url));

async function ok(src: string | Uint8Array, opts: ParseJobOptions = {}): Promise<Job> {
  const r = await parseJob(src, { file: "job.hcl", ...opts });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string | Uint8Array, opts: ParseJobOptions = {}): Promise<string[]> {
  const r = await parseJob(src, { file: "job.hcl", ...opts });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

function job(body: string, head = ""): string {
  return `${head}
job "j" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
${body}
    }
  }
}
`;
}

describe("the reference demoapp job", () => {
  it("validates and reads as the job the article describes, every other field at its default", async () => {
    const j = await ok(demoOld, { file: "examples/demoapp.hcl" });
    expect(j.ID).toBe("demoapp");
    expect(j.Name).toBe("demoapp");
    expect(j.Region).toBe("europe");
    expect(j.Datacenters).toEqual(["europe-west1"]);
    expect(j.Type).toBe("service");
    expect(j.Priority).toBe(50);
    expect(j.Update).toEqual({ ...defaultUpdateStrategy(), Canary: 1, MaxParallel: 1 });
    expect(j.TaskGroups).toHaveLength(1);
    const g = j.TaskGroups[0]!;
    expect(g.Name).toBe("webs");
    expect(g.Count).toBe(2);
    expect(g.RestartPolicy).toEqual({ Attempts: 3, Delay: 30 * NS.second, Interval: 2 * NS.minute, Mode: "delay" });
    expect(g.ReschedulePolicy).toEqual(defaultReschedulePolicy("service"));
    expect(g.Update).toEqual({ ...defaultUpdateStrategy(), Canary: 1, MaxParallel: 1 });
    expect(g.Migrate).toEqual(defaultMigrateStrategy());
    expect(g.EphemeralDisk).toEqual(defaultEphemeralDisk());
    expect(g.Networks).toEqual([
      { Mode: "host", MBits: 10, IP: "", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 0, To: 80, HostNetwork: "default" }] },
    ]);
    expect(g.Tasks).toHaveLength(1);
    const t = g.Tasks[0]!;
    expect(t.Name).toBe("frontend");
    expect(t.Driver).toBe("docker");
    expect(t.Config).toEqual({ image: "httpd", ports: ["http"] });
    expect(t.Resources).toEqual({ CPU: 200, MemoryMB: 64, Cores: 0, MemoryMaxMB: 0, DiskMB: 0 });
    expect(t.KillTimeout).toBe(5 * NS.second);
    expect(t.LogConfig).toEqual(defaultLogConfig());
    expect(t.Services).toEqual([
      {
        Name: "demoapp-webs-frontend",
        PortLabel: "http",
        AddressMode: "auto",
        Tags: ["traefik.frontend.rule=Host:demo.exemple.com", "traefik.tags=exposed"],
        CanaryTags: [],
        Meta: {},
        TaskName: "frontend",
        Checks: [],
      },
    ]);
  });

  it("reads the same in the current syntax", async () => {
    expect(await ok(demoNew, { file: "examples/demoapp-current.hcl" })).toEqual(await ok(demoOld, { file: "examples/demoapp.hcl" }));
  });

  it("reads the same from its JSON form, as inspect prints it", async () => {
    const j = await ok(demoOld);
    expect(await ok(JSON.stringify({ Job: j }), { file: "demoapp.json" })).toEqual(j);
    expect(await ok(JSON.stringify(j), { file: "demoapp.json" })).toEqual(j);
  });
});

describe("HCL2 variables and locals", () => {
  const head = `
variable "image" {
  type    = string
  default = "httpd"
}
variable "replicas" {
  type = number
}
variable "dcs" {
  type    = list(string)
  default = ["dc1"]
}
locals {
  name = "web-\${var.image}"
  full = upper(local.name)
}`;
  const src = `${head}
job "j" {
  datacenters = var.dcs
  meta { label = local.full }
  group "g" {
    count = var.replicas
    task "t" {
      driver = "docker"
      config { image = var.image }
      env = { PORT = "\${NOMAD_PORT_http}", N = "\${var.replicas + 1}" }
      constraint {
        attribute = "\${attr.kernel.name}"
        value     = "linux"
      }
    }
  }
}`;

  it("take values from -var, var files and the environment, strongest last", async () => {
    const j = await ok(src, { vars: { replicas: "3" }, env: { NOMAD_VAR_image: "nginx" }, varFiles: [{ file: "prod.hcl", text: 'dcs = ["eu-1", "eu-2"]\n' }] });
    expect(j.TaskGroups[0]!.Count).toBe(3);
    expect(j.TaskGroups[0]!.Tasks[0]!.Config.image).toBe("nginx");
    expect(j.Datacenters).toEqual(["eu-1", "eu-2"]);
    expect(j.Meta.label).toBe("WEB-NGINX");
    const j2 = await ok(src, { vars: { replicas: "2", image: "caddy" }, env: { RUCHE_VAR_image: "nginx" } });
    expect(j2.TaskGroups[0]!.Tasks[0]!.Config.image).toBe("caddy");
  });

  it("leave runtime values (attr, NOMAD_*) as written, for the scheduler and the client", async () => {
    const j = await ok(src, { vars: { replicas: "1" } });
    const t = j.TaskGroups[0]!.Tasks[0]!;
    expect(t.Env).toEqual({ PORT: "${NOMAD_PORT_http}", N: "2" });
    expect(t.Constraints).toEqual([{ LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "=" }]);
  });

  it("say which variable is missing, and where it is declared", async () => {
    expect(await errors(src)).toEqual([
      'job.hcl:6:1: var.replicas: variable "replicas" has no default and no value was given; set it with -var replicas=... or a var file',
    ]);
  });

  it("refuse a value of the wrong type, and an undeclared -var", async () => {
    expect(await errors(src, { vars: { replicas: "three", imag: "x" } })).toEqual([
      'job.hcl: var.imag: -var sets "imag", which the job file does not declare; did you mean "image"?',
      'job.hcl: var.replicas: a number is required, got string "three" (from -var)',
    ]);
  });

  it("evaluate functions, conditionals and for expressions", async () => {
    const j = await ok(
      job(
        `      env = { for k, v in { a = 1, b = 2 } : upper(k) => format("%d-%s", v * 10, v > 1 ? "big" : "small") }
      meta = merge({ x = "1" }, { y = join(",", [for s in ["c", "d"] : "\${s}!"]) })`,
      ),
    );
    expect(j.TaskGroups[0]!.Tasks[0]!.Env).toEqual({ A: "10-small", B: "20-big" });
    expect(j.TaskGroups[0]!.Tasks[0]!.Meta).toEqual({ x: "1", y: "c!,d!" });
  });

  it("reads heredocs, escapes and $${ as HCL does", async () => {
    const j = await ok(
      job(`      env {
        A = "tab\\there \\"q\\" \\u00e9"
        B = "$\${NOT_INTERPOLATED}"
        C = <<-EOT
          line one
            line two
          EOT
      }`),
    );
    expect(j.TaskGroups[0]!.Tasks[0]!.Env).toEqual({ A: 'tab\there "q" é', B: "${NOT_INTERPOLATED}", C: "line one\n  line two\n" });
  });

  it("report a local that refers to itself", async () => {
    expect(await errors(job("", 'locals {\n  a = local.b\n  b = local.a\n}'))).toEqual([
      'job.hcl:2:3: local.a: local "a" refers to itself',
      'job.hcl:3:3: local.b: local "b" refers to itself',
    ]);
  });
});

describe("numbers and schedules HCL allows", () => {
  it("reads exponents without a fraction, and cron descriptors", async () => {
    const j = await ok(job("      resources {\n        cpu    = 2e2\n        memory = 1.28e2\n      }", ""));
    expect(j.TaskGroups[0]!.Tasks[0]!.Resources).toMatchObject({ CPU: 200, MemoryMB: 128 });
    const daily = await ok('job "p" {\n  type = "batch"\n  periodic { cron = "@daily" }\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config { command = "/bin/true" }\n    }\n  }\n}\n');
    expect(daily.Periodic).toEqual({ Enabled: true, Spec: "@daily", Specs: [], SpecType: "cron", ProhibitOverlap: false, TimeZone: "UTC" });
  });

  it("reads Nomad's 6- and 7-field crons, crons lists and time zones, and names what is wrong where", async () => {
    const periodic = (body: string, type = "batch"): string =>
      `job "p" {\n  type = "${type}"\n  periodic {\n${body}\n  }\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config { command = "/bin/true" }\n    }\n  }\n}\n`;
    const several = await ok(periodic('    crons = ["*/5 * * * * * *", "0 30 2 * * * 2030"]\n    time_zone = "Europe/Paris"\n    prohibit_overlap = true'));
    expect(several.Periodic).toEqual({ Enabled: true, Spec: "", Specs: ["*/5 * * * * * *", "0 30 2 * * * 2030"], SpecType: "cron", ProhibitOverlap: true, TimeZone: "Europe/Paris" });
    expect(await errors(periodic('    cron = "* * * *"'))).toEqual([
      'job.hcl:4:5: job.periodic.cron: cron must have 5 fields (minute hour day-of-month month day-of-week), 6 (and a year) or 7 (a second first, then the six), got "* * * *"',
    ]);
    expect(await errors(periodic('    crons = ["@daily", "61 * * * *"]'))).toEqual(['job.hcl:4:5: job.periodic.crons[1]: cron minute "61" is out of range 0-59']);
    expect(await errors(periodic('    cron = "@daily"\n    time_zone = "Mars/Olympus"'))).toEqual([
      'job.hcl:5:5: job.periodic.time_zone: unknown time zone "Mars/Olympus"; use a name of the IANA database, such as "America/New_York" or "UTC"',
    ]);
    expect((await errors(periodic('    cron = "@daily"\n    crons = ["@hourly"]'))).join("\n")).toContain("Only cron or crons may be used");
    expect((await errors(periodic('    cron = "@daily"', "service"))).join("\n")).toContain('Periodic can only be used with "batch" or "sysbatch" scheduler, not "service"');
  });

  it("places a mistake after an exponent at its column in the file", async () => {
    expect(await errors(job("      resources {\n        cpu = 1e6 + lenght(\"x\")\n      }"))).toEqual([
      'job.hcl:9:21: job.group[g].task[t].resources.cpu: there is no function named "lenght"',
    ]);
  });
});

describe("constraints", () => {
  it("read the shorthands and Ruche's beside/not-beside operators", async () => {
    const j = await ok(
      job(`      constraint { distinct_hosts = true }
      constraint { distinct_property = "\${meta.rack}" }
      constraint {
        attribute = "\${attr.kernel.version}"
        version   = ">= 4.0"
      }
      constraint {
        operator = "not_beside_job"
        value    = "db"
      }`),
    );
    expect(j.TaskGroups[0]!.Tasks[0]!.Constraints).toEqual([
      { LTarget: "", RTarget: "true", Operand: "distinct_hosts" },
      { LTarget: "${meta.rack}", RTarget: "", Operand: "distinct_property" },
      { LTarget: "${attr.kernel.version}", RTarget: ">= 4.0", Operand: "version" },
      { LTarget: "", RTarget: "db", Operand: "not_beside_job" },
    ]);
  });
});

describe("every mistake at once", () => {
  it("reports decoding and validation mistakes together, each at its place", async () => {
    const e = await errors(`job "j" {
  datacenters = ["dc1"]
  group "g" {
    cout  = 2
    count = -1
    task "t" {
      driver = "dockr"
      resources {
        memory = 4
      }
    }
  }
}
`);
    expect(e).toEqual([
      'job.hcl:4:5: job.group[g].cout: unknown attribute "cout" in group; did you mean "count"?',
      "job.hcl:5:5: job.group[g].count: count must be zero or more, got -1",
      `job.hcl:7:7: job.group[g].task[t].driver: unknown driver "dockr"; Ruche has ${DRIVER_NAMES.join(", ")}; did you mean "docker"?`,
      "job.hcl:9:9: job.group[g].task[t].resources.memory: memory must be between 10 and 16777216 MB, got 4",
    ]);
  });

  it("points at the old syntax where the user wrote it", async () => {
    const text = new TextDecoder().decode(demoOld).replace('port "http" {', 'port "http x" {').replace("http = 80", '"http x" = 80').replace('port = "http"', 'port = "http x"');
    expect(await errors(text, { file: "demoapp.hcl" })).toEqual([
      'demoapp.hcl:37:16: job.group[webs].task[frontend].resources.network[0].port[http x]: port label "http x" may hold only letters, digits, "_", "-" and "."',
    ]);
  });
});

describe("the driver limits of a task", () => {
  it("refuse a pids_limit that is no number of processes, and a docker volume that climbs out of the allocation's directory", async () => {
    const e = await errors(`job "j" {
  datacenters = ["dc1"]
  group "g" {
    task "d" {
      driver = "docker"
      config {
        image      = "redis:7"
        pids_limit = 0
        volumes    = ["data:/data", "../alloc/data:/shared", "../../../etc:/host-etc", "/var/run/docker.sock:/var/run/docker.sock"]
      }
    }
    task "e" {
      driver = "exec"
      config {
        command    = "/bin/true"
        pids_limit = 2.5
      }
    }
  }
}
`);
    expect(e).toEqual([
      "job.hcl:8:9: job.group[g].task[d].config.pids_limit: pids_limit must be a whole number of processes from 1 to 4194304, got 0",
      'job.hcl:9:9: job.group[g].task[d].config.volumes: volume "../../../etc:/host-etc" leaves the allocation\'s directory: a relative host path is taken from the task\'s directory and must stay inside the allocation\'s',
      "job.hcl:16:9: job.group[g].task[e].config.pids_limit: pids_limit must be a whole number of processes from 1 to 4194304, got 2.5",
    ]);
    const fine = await ok(job("", "").replace('driver = "raw_exec"', 'driver = "exec"').replace('config { command = "/bin/true" }', 'config {\n        command    = "/bin/true"\n        pids_limit = 50\n      }'));
    expect(fine.TaskGroups[0]?.Tasks[0]?.Config.pids_limit).toBe(50);
  });
});

describe("JSON form", () => {
  it("names the field at fault by its path", async () => {
    const j = await ok(demoOld);
    const bad = JSON.parse(JSON.stringify({ Job: j })) as { Job: Record<string, unknown> & { TaskGroups: Record<string, unknown>[] } };
    bad.Job.TaskGroups[0]!.Count = "two";
    bad.Job.TaskGroups[0]!.Cnt = 3;
    expect(await errors(JSON.stringify(bad), { file: "job.json" })).toEqual([
      'job.json: Job.TaskGroups[0].Cnt: unknown field "Cnt" in group; did you mean "Count"?',
      'job.json: Job.TaskGroups[0].Count: must be a number, got string "two"',
    ]);
  });

  it("lets empty fields it does not model through, and refuses ones that carry a value", async () => {
    const j = await ok(demoOld);
    const withExtras = { Job: { ...j, ParentID: "", Multiregion: null, Dispatched: false } };
    expect(await ok(JSON.stringify(withExtras), { file: "j.json" })).toEqual(j);
    expect(await errors(JSON.stringify({ Job: { ...j, Dispatched: true } }), { file: "j.json" })).toEqual([
      'j.json: Job.Dispatched: unknown field "Dispatched" in job',
    ]);
  });
});
