/**
 * Fields real Nomad job files use (found by test/jobspec/nomad-corpus.test.ts): read and
 * kept as Nomad's api keeps them, or refused with the one line that says why.
 */
import { describe, expect, it } from "vitest";
import { NS, type Job } from "../structs/index.js";
import { formatDiagnostic, parseJob } from "./index.js";

async function ok(src: string): Promise<Job> {
  const r = await parseJob(src, { file: "job.hcl" });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string): Promise<string[]> {
  const r = await parseJob(src, { file: "job.hcl" });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

/** A job with `group` inside its group (before the task) and `task` inside its task. */
function job(task: string, group = "", top = ""): string {
  return `job "j" {
  datacenters = ["dc1"]
${top}
  group "g" {
${group}
    task "t" {
      driver = "docker"
      config { image = "redis:7" }
${task}
    }
  }
}
`;
}

describe("Nomad fields kept with the job", () => {
  it("a bridge network's hostname, interpolated on the node; refused in host mode", async () => {
    const j = await ok(job("", '    network {\n      mode = "bridge"\n      hostname = "pony-${NOMAD_ALLOC_INDEX}"\n    }'));
    expect(j.TaskGroups[0]?.Networks[0]?.Hostname).toBe("pony-${NOMAD_ALLOC_INDEX}");
    expect((await errors(job("", '    network {\n      hostname = "pony"\n    }'))).join("\n")).toMatch(/hostname is set on a bridge network only/);
    expect((await errors(job("", '    network {\n      mode = "bridge"\n      hostname = "no pony"\n    }'))).join("\n")).toMatch(/hostname "no pony" is not a valid hostname/);
  });

  it("a task's action blocks, as Nomad's api.Action; an action without a command, or named twice, is refused", async () => {
    const j = await ok(job('      action "flush" {\n        command = "/bin/sh"\n        args = ["-c", "echo flushed"]\n      }'));
    expect(j.TaskGroups[0]?.Tasks[0]?.Actions).toEqual([{ Name: "flush", Command: "/bin/sh", Args: ["-c", "echo flushed"] }]);
    expect((await errors(job('      action "a" {\n        args = []\n      }\n      action "a" {\n        command = "x"\n      }'))).join("\n")).toMatch(/an action needs a command[\s\S]*action "a" is declared twice/);
  });

  it("an interpolation of a name Ruche does not know stays as written, as in Nomad (a shell's ${dur}, nginx's ${scheme}, ${memory.totalbytes})", async () => {
    const j = await ok(job('      env {\n        SCRIPT = "sleep ${dur}; echo ${scheme}://${proxy_host}"\n        X = "${nope.tag}"\n      }'));
    expect(j.TaskGroups[0]?.Tasks[0]?.Env.SCRIPT).toBe("sleep ${dur}; echo ${scheme}://${proxy_host}");
    expect(j.TaskGroups[0]?.Tasks[0]?.Env.X).toBe("${nope.tag}");
  });

  it("max_run_duration on a batch group, in nanoseconds; refused on a service job and when not positive", async () => {
    const j = await ok(job("", '    max_run_duration = "5s"', '  type = "batch"'));
    expect(j.TaskGroups[0]?.MaxRunDuration).toBe(5 * NS.second);
    expect((await errors(job("", '    max_run_duration = "5s"'))).join("\n")).toMatch(/job type "service" does not allow max_run_duration/);
    expect((await errors(job("", '    max_run_duration = "0s"', '  type = "sysbatch"'))).join("\n")).toMatch(/max_run_duration must be greater than zero/);
  });

  it("shutdown_delay on a task and on a group, in nanoseconds", async () => {
    const j = await ok(job('      shutdown_delay = "5s"', '    shutdown_delay = "2s"'));
    expect(j.TaskGroups[0]?.ShutdownDelay).toBe(2 * NS.second);
    expect(j.TaskGroups[0]?.Tasks[0]?.ShutdownDelay).toBe(5 * NS.second);
    expect(await errors(job('      shutdown_delay = "-1s"'))).toEqual(['job.hcl:9:7: job.group[g].task[t].shutdown_delay: shutdown_delay must not be negative, got "-1s"']);
  });

  it("a task's restart block is merged over its group's (the client's restart tracker takes the task's)", async () => {
    const j = await ok(job("      restart {\n        attempts = 2\n        delay = \"15s\"\n        interval = \"10s\"\n      }", '    restart {\n      mode = "delay"\n    }'));
    const g = j.TaskGroups[0];
    expect(g?.Tasks[0]?.RestartPolicy).toEqual({ ...g?.RestartPolicy, Attempts: 2, Delay: 15 * NS.second, Interval: 10 * NS.second, Mode: "delay" });
    // Nomad checks only the group's policy for fit; a task's is taken as written.
    expect(await errors(job('      restart {\n        mode = "later"\n      }'))).toEqual(['job.hcl:10:9: job.group[g].task[t].restart.mode: mode must be "delay" or "fail", got "later"']);
  });

  it("restart's render_templates on a group, inherited by a task's restart block unless it says otherwise", async () => {
    const j = await ok(job('      restart {\n        attempts = 1\n      }', '    restart {\n      render_templates = true\n    }'));
    expect(j.TaskGroups[0]?.RestartPolicy.RenderTemplates).toBe(true);
    expect(j.TaskGroups[0]?.Tasks[0]?.RestartPolicy?.RenderTemplates).toBe(true);
    const off = await ok(job('      restart {\n        render_templates = false\n      }', '    restart {\n      render_templates = true\n    }'));
    expect(off.TaskGroups[0]?.Tasks[0]?.RestartPolicy?.RenderTemplates).toBe(false);
    expect((await ok(job(""))).TaskGroups[0]?.RestartPolicy.RenderTemplates).toBeUndefined();
  });

  it("a service's custom address, with address_mode auto only (as Nomad)", async () => {
    const svc = (extra: string): string => `    network {\n      port "http" {}\n    }\n    service {\n      name = "web"\n      port = "http"\n      address = "\${attr.unique.network.ip-address}"\n${extra}    }`;
    const j = await ok(job("", svc("")));
    expect(j.TaskGroups[0]?.Services[0]).toMatchObject({ Address: "${attr.unique.network.ip-address}", AddressMode: "auto" });
    expect((await errors(job("", svc('      address_mode = "host"\n')))).join("\n")).toMatch(/service\[0\]\.address: Service address_mode must be "auto" if address is set, got "host"/);
  });

  it("on_update and check_restart on services and checks, the service's inherited by its checks as Nomad's api does", async () => {
    const src = job(
      `      service {
        port = "db"
        on_update = "ignore_warnings"
        check_restart {
          limit = 3
        }
        check {
          type = "tcp"
          interval = "10s"
          timeout = "2s"
        }
        check {
          name = "second"
          type = "tcp"
          interval = "10s"
          timeout = "2s"
          on_update = "ignore"
          check_restart {
            grace = "30s"
            ignore_warnings = true
          }
        }
      }`,
      '    network {\n      port "db" {}\n    }',
    );
    const s = (await ok(src)).TaskGroups[0]?.Tasks[0]?.Services[0];
    expect(s?.OnUpdate).toBe("ignore_warnings");
    expect(s?.Checks.map((c) => [c.OnUpdate, c.CheckRestart])).toEqual([
      ["ignore_warnings", { Limit: 3, Grace: NS.second, IgnoreWarnings: false }],
      ["ignore", { Limit: 3, Grace: 30 * NS.second, IgnoreWarnings: true }],
    ]);
    expect(await errors(src.replace('on_update = "ignore"', 'on_update = "never"'))).toEqual([
      'job.hcl:27:11: job.group[g].task[t].service[0].check[1].on_update: on_update must be one of require_healthy, ignore_warnings, ignore, got "never"',
    ]);
  });

  it("a group's scaling block and a task's scaling \"cpu\" / \"mem\" blocks; without a count, the policy's min is the count", async () => {
    const j = await ok(
      job(
        '      scaling "cpu" {\n        policy {\n          cooldown = "1m"\n        }\n      }\n      scaling "mem" {\n        enabled = false\n      }',
        "    scaling {\n      min = 2\n      max = 10\n      policy {\n        evaluation_interval = \"5s\"\n        check \"cpu\" {\n          query = \"avg\"\n        }\n      }\n    }",
      ),
    );
    const g = j.TaskGroups[0];
    expect(g?.Count).toBe(2);
    expect(g?.Scaling).toEqual({ Type: "horizontal", Min: 2, Max: 10, Enabled: true, Policy: { evaluation_interval: "5s", check: { cpu: { query: "avg" } } } });
    expect(g?.Tasks[0]?.ScalingPolicies?.map((p) => [p.Type, p.Enabled])).toEqual([
      ["vertical_cpu", true],
      ["vertical_mem", false],
    ]);
    expect(await errors(job("", "    count = 20\n    scaling {\n      max = 10\n    }"))).toEqual([
      // As Nomad's: min defaults to the count, so both are said.
      "job.hcl:7:7: job.group[g].scaling.max: max (10) must not be less than min (20)",
      "job.hcl:7:7: job.group[g].scaling.max: the group's count (20) must not be more than the scaling policy's max (10)",
    ]);
    expect(await errors(job("", "    scaling {\n      min = 1\n    }"))).toEqual(["job.hcl:5:5: job.group[g].scaling: a scaling policy needs max, the largest count it may set"]);
    expect(await errors(job('      scaling "gpu" {}'))).toEqual(['job.hcl:9:15: job.group[g].task[t].scaling[gpu]: a task\'s scaling policy is named "cpu" or "mem", got "gpu"']);
  });

  it("base64encode and base64decode, as in Nomad's HCL2", async () => {
    const j = await ok(job('      env {\n        AUTH = local.auth\n        BACK = base64decode(local.auth)\n      }').replace('job "j" {', 'locals {\n  auth = base64encode("user:pässword")\n}\njob "j" {'));
    expect(j.TaskGroups[0]?.Tasks[0]?.Env).toEqual({ AUTH: Buffer.from("user:pässword").toString("base64"), BACK: "user:pässword" });
    expect((await errors(job('      env {\n        X = base64decode("not base64!")\n      }')))[0]).toMatch(/base64decode: the argument is not valid base64$/);
  });

  it("HCL2 dynamic blocks: one block per element of for_each, its key and value under the iterator, labels from labels", async () => {
    const src = `variable "ports" {
  type    = list(string)
  default = ["http", "admin"]
}
job "j" {
  datacenters = ["dc1"]
  group "g" {
    network {
      dynamic "port" {
        for_each = var.ports
        labels   = [port.value]
        content {}
      }
    }
    task "t" {
      driver = "docker"
      config {
        image = "redis:7"
        ports = var.ports
        dynamic "labels" {
          for_each = { team = "web" }
          content {
            owner = labels.value
          }
        }
      }
      dynamic "service" {
        for_each = var.ports
        iterator = p
        content {
          name = "svc-\${p.value}"
          port = p.value
          tags = ["index-\${p.key}"]
        }
      }
    }
  }
}
`;
    const g = (await ok(src)).TaskGroups[0];
    expect(g?.Networks[0]?.DynamicPorts.map((p) => p.Label)).toEqual(["http", "admin"]);
    expect(g?.Tasks[0]?.Services.map((s) => [s.Name, s.PortLabel, s.Tags])).toEqual([
      ["svc-http", "http", ["index-0"]],
      ["svc-admin", "admin", ["index-1"]],
    ]);
    expect(g?.Tasks[0]?.Config.labels).toEqual({ owner: "web" });
    expect(await errors(src.replace("for_each = var.ports\n        iterator = p", 'for_each = "http"\n        iterator = p'))).toEqual([
      "job.hcl:28:9: job.group[g].task[t].dynamic[service].for_each: for_each must be a list, a set or a map, got string",
    ]);
    // (The ports it would have made are then undeclared, as after a misspelt port block.)
    expect((await errors(src.replace("labels   = [port.value]\n        content {}", "labels   = [port.value]")))[0]).toBe(
      "job.hcl:9:7: job.group[g].network[0].dynamic[port]: a dynamic block needs a content { ... } block: what each generated block holds",
    );
  });

  it("the job's ui block", async () => {
    const j = await ok(job("", "", '  ui {\n    description = "A *web* app"\n    link {\n      label = "Docs"\n      url = "https://example.com"\n    }\n  }'));
    expect(j.UI).toEqual({ Description: "A *web* app", Links: [{ Label: "Docs", URL: "https://example.com" }] });
  });

  it("repeated docker port_map blocks are one map", async () => {
    const src = `job "j" {
  datacenters = ["dc1"]
  group "g" {
    task "t" {
      driver = "docker"
      config {
        image = "nginx"
        port_map {
          http = 8080
        }
        port_map {
          https = 443
        }
      }
      resources {
        network {
          port "http" {}
          port "https" {}
        }
      }
    }
  }
}
`;
    const g = (await ok(src)).TaskGroups[0];
    expect(g?.Networks[0]?.DynamicPorts.map((p) => [p.Label, p.To])).toEqual([
      ["http", 8080],
      ["https", 443],
    ]);
    expect(g?.Tasks[0]?.Config.ports).toEqual(["http", "https"]);
  });

  it("memory_max = -1 is Nomad's no-limit sentinel; each task's logs are checked against the disk, not their sum", async () => {
    await ok(job("      resources {\n        memory = 64\n        memory_max = -1\n      }"));
    const three = `job "j" {
  datacenters = ["dc1"]
  group "g" {
    ${["a", "b", "c"].map((t) => `task "${t}" {\n      driver = "docker"\n      config { image = "redis:7" }\n    }`).join("\n    ")}
  }
}
`;
    // 3 tasks × 100 MB of logs on the default 300 MB disk: Nomad accepts it.
    await ok(three);
  });
});

describe("Nomad features refused with one line", () => {
  it.each([
    ["vault on a task", job("      vault {\n        policies = [\"x\"]\n      }"), 'job.hcl:9:7: job.group[g].task[t].vault: "vault": Ruche does not run Vault: give the task its secrets another way (env, a file in the image)'],
    ["vault on a group", job("", "    vault {}"), 'job.hcl:5:5: job.group[g].vault: "vault": Ruche does not run Vault: give the task its secrets another way (env, a file in the image)'],
    ["vault on the job", job("", "", "  vault {}"), 'job.hcl:3:3: job.vault: "vault": Ruche does not run Vault: give the task its secrets another way (env, a file in the image)'],
    [
      "connect",
      job("", "    service {\n      connect {\n        sidecar_service {}\n      }\n    }"),
      'job.hcl:6:7: job.group[g].service[0].connect: "connect": Ruche does not run Consul Connect (no sidecar proxies or service mesh): reach services at their registered address and port',
    ],
    ["csi_plugin", job("      csi_plugin {\n        id = \"x\"\n      }"), 'job.hcl:9:7: job.group[g].task[t].csi_plugin: "csi_plugin": Ruche does not run CSI plugins: a volume it mounts is a host path (docker volumes) or the allocation\'s directory'],
    ["a docker option Ruche's driver does not have", job("").replace('image = "redis:7"', 'image = "redis:7"\n        volume_driver = "rexray"'), 'job.hcl:9:9: job.group[g].task[t].config.volume_driver: "volume_driver" is an option of Nomad\'s docker driver that Ruche\'s does not have; remove it'],
    ["a docker option of Windows alone", job("").replace('image = "redis:7"', 'image = "redis:7"\n        isolation = "hyperv"'), 'job.hcl:9:9: job.group[g].task[t].config.isolation: "isolation" is Windows\' container isolation (process or hyperv), which a Linux Docker engine does not have; remove it'],
    ["a docker memory_hard_limit below the task's memory", job("").replace('image = "redis:7"', 'image = "redis:7"\n        memory_hard_limit = 128'), "job.hcl:9:9: job.group[g].task[t].config.memory_hard_limit: memory_hard_limit (128 MB) must not be less than the task's memory (300 MB), which it reserves"],
    ["a docker option nobody has", job("").replace('image = "redis:7"', 'image = "redis:7"\n        dns_server = ["1.1.1.1"]'), 'job.hcl:9:9: job.group[g].task[t].config.dns_server: "dns_server" is not an option of the docker driver; did you mean "dns_servers"? (Nomad\'s fails the task as it starts: An argument named "dns_server" is not expected here)'],
  ])("%s", async (_what, src, line) => {
    expect(await errors(src)).toEqual([line]);
  });

  it("the JSON form says the same", async () => {
    const r = await parseJob(JSON.stringify({ Job: { ID: "j", TaskGroups: [{ Name: "g", Tasks: [{ Name: "t", Driver: "raw_exec", Config: { command: "x" }, Vault: { Policies: ["p"] } }] }] } }), { file: "job.json" });
    expect(r.ok ? [] : r.diagnostics.map(formatDiagnostic)).toEqual(['job.json: Job.TaskGroups[0].Tasks[0].Vault: "Vault": Ruche does not run Vault: give the task its secrets another way (env, a file in the image)']);
  });
});

describe("multiregion (Nomad Enterprise's, built here)", () => {
  it("keeps the strategy and each region's count, datacenters, node pool and meta; Nomad's api defaults", async () => {
    const j = await ok(
      job(
        "",
        "",
        '  multiregion {\n    strategy {\n      max_parallel = 1\n      on_failure = "fail_all"\n    }\n    region "west" {\n      count = 2\n      datacenters = ["west-1"]\n      node_pool = "edge"\n      meta {\n        my-key = "v"\n      }\n    }\n    region "east" {}\n  }',
      ),
    );
    expect(j.Multiregion).toEqual({
      Strategy: { MaxParallel: 1, OnFailure: "fail_all" },
      Regions: [
        { Name: "west", Count: 2, Datacenters: ["west-1"], NodePool: "edge", Meta: { "my-key": "v" } },
        { Name: "east", Count: 1, Datacenters: [], NodePool: "", Meta: {} },
      ],
    });
  });

  it.each([
    ["no region", "  multiregion {}", 'job.hcl:3:3: job.multiregion.region: a multiregion block needs at least one region "name" { ... } block'],
    ["a region twice", '  multiregion {\n    region "a" {}\n    region "a" {}\n  }', 'job.hcl:5:12: job.multiregion.region[a]: region "a" is named twice; each region is listed once'],
    ["an unknown on_failure", '  multiregion {\n    strategy {\n      on_failure = "fail_some"\n    }\n    region "a" {}\n  }', 'job.hcl:5:7: job.multiregion.strategy.on_failure: on_failure must be "fail_all", "fail_local" or left out (the failed region and those after it fail), got "fail_some"'],
  ])("refuses %s", async (_what, top, line) => {
    expect(await errors(job("", "", top))).toEqual([line]);
  });
});
