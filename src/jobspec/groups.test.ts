/**
 * Groups of several tasks as Nomad reads them: port labels with dashes, each task's logs
 * against the ephemeral disk on their own, port "http" declared by two tasks in their own
 * resources (the older syntax), and the ports a docker task of that syntax publishes.
 */
import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
import { parseAgentConfig } from "./agent-config.js";
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

const dockerTask = (name: string, body: string): string => `    task "${name}" {
      driver = "docker"
      config {
        image = "busybox"
${body}
      }
    }
`;

describe("port labels", () => {
  it("takes a label with dashes, as Nomad does (hashicups' product-api)", async () => {
    const job = await ok(`job "hashicups" {
  group "product-api" {
    network {
      port "product-api" {
        static = 9090
      }
    }
    service {
      name = "product-api"
      port = "product-api"
    }
${dockerTask("product-api", '        ports = ["product-api"]')}  }
}`);
    expect(job.TaskGroups[0]?.Networks[0]?.ReservedPorts).toMatchObject([{ Label: "product-api", Value: 9090 }]);
    expect(job.TaskGroups[0]?.Tasks[0]?.Config.ports).toEqual(["product-api"]);
  });

  it("still refuses a label no environment variable could name, saying which", async () => {
    const errs = await errors(`job "j" {
  group "g" {
    network {
      port "my port" {}
    }
${dockerTask("t", "")}  }
}`);
    expect(errs).toEqual(['job.hcl:4:12: job.group[g].network[0].port[my port]: port label "my port" may hold only letters, digits, "_", "-" and "."']);
  });
});

describe("several tasks of a group", () => {
  it("checks each task's logs against the ephemeral disk on their own, as Nomad (not their sum)", async () => {
    const logs = `        logs {
          max_files     = 5
          max_file_size = 2
        }`;
    const task = (name: string): string => `    task "${name}" {
      driver = "raw_exec"
      config { command = "/bin/true" }
${logs}
    }
`;
    // Three tasks of 10 MB of logs each, 30 MB together, on a disk of 20 MB.
    await ok(`job "j" {
  group "g" {
    ephemeral_disk { size = 20 }
${task("a")}${task("b")}${task("c")}  }
}`);
    const errs = await errors(`job "j" {
  group "g" {
    ephemeral_disk { size = 10 }
${task("a")}  }
}`);
    expect(errs[0]).toContain(`task "a"'s logs may take 10 MB (max_files × max_file_size), which must be less than the 10 MB ephemeral disk`);
  });

  it("lets two tasks each declare port http in their own resources; the second is <task>_http in the group, and each publishes its own", async () => {
    const task = (name: string): string => `    task "${name}" {
      driver = "docker"
      config {
        image = "busybox"
      }
      service {
        name = "${name}"
        port = "http"
      }
      resources {
        network {
          port "http" {}
        }
      }
    }
`;
    const job = await ok(`job "sockshop" {
  group "user" {
${task("user")}${task("user-db")}  }
}`);
    const g = job.TaskGroups[0];
    expect(g?.Networks[0]?.DynamicPorts.map((p) => p.Label)).toEqual(["http", "user-db_http"]);
    expect(g?.Tasks.map((t) => t.Config.ports)).toEqual([["http"], ["user-db_http"]]);
    expect(g?.Tasks.map((t) => t.Services[0]?.PortLabel)).toEqual(["http", "user-db_http"]);
  });

  it("maps a second task's port_map onto its own port", async () => {
    const task = (name: string, to: number): string => `    task "${name}" {
      driver = "docker"
      config {
        image = "busybox"
        port_map {
          http = ${to}
        }
      }
      resources {
        network {
          port "http" {}
        }
      }
    }
`;
    const job = await ok(`job "j" {
  group "g" {
${task("a", 80)}${task("b", 8080)}  }
}`);
    expect(job.TaskGroups[0]?.Networks[0]?.DynamicPorts.map((p) => [p.Label, p.To])).toEqual([
      ["http", 80],
      ["b_http", 8080],
    ]);
    expect(job.TaskGroups[0]?.Tasks.map((t) => t.Config.ports)).toEqual([["http"], ["b_http"]]);
  });

  it("still refuses one task declaring the same label twice, and a label in both the group's and a task's network", async () => {
    const twice = await errors(`job "j" {
  group "g" {
    task "t" {
      driver = "docker"
      config { image = "busybox" }
      resources {
        network {
          port "http" {}
          port "http" {}
        }
      }
    }
  }
}`);
    expect(twice.join("\n")).toContain('port "http" is declared twice');
  });
});

describe("a bridge group's docker tasks", () => {
  it("refuses the options of a container's own network, which its tasks share with the group's pause container", async () => {
    const errs = await errors(`job "j" {
  group "g" {
    network {
      mode = "bridge"
    }
${dockerTask("t", '        hostname = "web"\n        extra_hosts = ["db:10.0.0.1"]')}  }
}`);
    expect(errs).toHaveLength(2);
    expect(errs[0]).toContain('config.hostname: "hostname" is not supported on a task of a bridge group (network { mode = "bridge" }) yet');
    expect(errs[1]).toContain("config.extra_hosts");
    // In host mode they are the task's own.
    await ok(`job "j" {
  group "g" {
${dockerTask("t", '        hostname = "web"')}  }
}`);
  });
});

describe("the agent's pause image", () => {
  it("is Nomad's docker plugin infra_image, the -docker-infra-image flag", async () => {
    const r = await parseAgentConfig('plugin "docker" {\n  config {\n    infra_image = "ruche-test/busybox:latest"\n  }\n}\n', "agent.hcl");
    if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
    expect(r.config.flags.get("docker-infra-image")).toEqual(["ruche-test/busybox:latest"]);
  });
});

describe("a task written directly in the job", () => {
  const src = `job "periodic" {
  type = "batch"
  task "first" {
    driver = "raw_exec"
    config {
      command = "/bin/true"
    }
  }
  group "web" {
    task "server" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
  task "second" {
    driver = "raw_exec"
    config {
      command = "/bin/true"
    }
    restart {
      attempts = "x"
    }
  }
}
`;

  it("runs in a group of its own named after it, before the job's groups, as Nomad's HCL2 puts it", async () => {
    const job = await ok(src.replace('attempts = "x"', "attempts = 1"));
    expect(job.TaskGroups.map((g) => [g.Name, g.Tasks.map((t) => t.Name)])).toEqual([
      ["first", ["first"]],
      ["second", ["second"]],
      ["web", ["server"]],
    ]);
    expect(job.TaskGroups[1]?.Tasks[0]?.RestartPolicy?.Attempts).toBe(1);
  });

  it("keeps its diagnostics on the line written", async () => {
    // One the decoder finds, and one validation finds on the job after the task got its group.
    expect(await errors(src)).toEqual(['job.hcl:23:7: job.task[second].restart.attempts: attempts must be a number, got string "x"']);
    const unknown = await errors(src.replace('attempts = "x"', "attempts = 1").replace('task "second" {\n    driver = "raw_exec"', 'task "second" {\n    driver = "nope"'));
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatch(/^job\.hcl:18:5: .*unknown driver "nope"/);
  });
});
