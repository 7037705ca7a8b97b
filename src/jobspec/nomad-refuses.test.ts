/**
 * What real job files write that Nomad refuses too (found by
 * test/jobspec/nomad-corpus.test.ts), each refused saying what Nomad says; and the drivers
 * Ruche's nodes do not run, each refused with its one reason.
 */
import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
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

/** A job of one group `g` and one task `t`; `task` replaces the task's body (driver and config). */
function job(task = '      driver = "docker"\n      config {\n        image = "redis:7"\n      }', group = "", top = ""): string {
  return `job "j" {\n  datacenters = ["dc1"]\n${top}\n  group "g" {\n${group}\n    task "t" {\n${task}\n    }\n  }\n}\n`;
}

describe("HCL's newlines, as Nomad's parser asks for them", () => {
  it("an argument followed by more on its line is refused at what follows (nomadder's `driver = \"docker\"c`)", async () => {
    expect(await errors(job('      driver = "docker"c\n\n      config {\n        image = "redis:7"\n      }'))).toEqual([
      'job.hcl:7:24: syntax error: missing newline after argument "driver": an argument definition must end with a newline',
    ]);
    expect(await errors(job('      driver = "docker" config {\n        image = "redis:7"\n      }'))).toEqual([
      'job.hcl:7:25: syntax error: missing newline after argument "driver": an argument definition must end with a newline',
    ]);
  });

  it("two blocks on one line, and a block whose { is on the next line, are refused", async () => {
    expect(await errors(job('      driver = "docker"\n      config { image = "redis:7" } meta { a = "b" }'))).toEqual([
      "job.hcl:8:36: syntax error: missing newline after the config block: a block definition must end with a newline",
    ]);
    expect(await errors(job('      driver = "docker"\n      config\n      {\n        image = "redis:7"\n      }'))).toEqual([
      'job.hcl:9:7: syntax error: the config block\'s "{" must be on the line of its header, as in config {',
    ]);
    expect(await errors('job "j"\n{\n}\n')).toEqual(['job.hcl:2:1: syntax error: the job block\'s "{" must be on the line of its header, as in job "j" {']);
  });

  it("one-line blocks, comments after a value and heredocs ending a line are taken", async () => {
    const j = await ok(
      job(
        '      driver = "docker" # the engine\n      config { image = "redis:7" } // one line\n      template {\n        data = <<EOF\nx\nEOF\n        destination = "local/a"\n      }',
      ),
    );
    expect(j.TaskGroups[0]?.Tasks[0]?.Templates?.[0]?.EmbeddedTmpl).toBe("x\n");
  });
});

describe("what Nomad's job validation refuses too", () => {
  it("a task without a driver: Nomad's \"Missing task driver\" (brucellino hubot)", async () => {
    const lines = await errors(job('      lifecycle {\n        hook = "prestart"\n      }', "", "").replace('task "t" {', 'task "install" {\n      lifecycle {\n        hook = "prestart"\n      }\n    }\n    task "t" {\n      driver = "docker"\n      config {\n        image = "redis:7"\n      }'));
    expect(lines.find((l) => l.includes("task[install]"))).toMatch(/^job\.hcl:\d+:\d+: job\.group\[g\]\.task\[install\]\.driver: missing task driver: task "install" needs one \(docker, .*mock.*\)$/);
  });

  it("count in a task: not an argument of a task (Nomad's \"An argument named \\\"count\\\" is not expected here\"), said where it goes", async () => {
    expect(await errors(job('      driver = "docker"\n      count = 2\n      config {\n        image = "redis:7"\n      }'))).toEqual([
      "job.hcl:8:7: job.group[g].task[t].count: unknown attribute \"count\" in task: count is the group's (how many of its allocations run); set it in the group block",
    ]);
    expect(await errors(job(undefined, '    driver = "docker"'))).toEqual(['job.hcl:5:5: job.group[g].driver: unknown attribute "driver" in group: driver is a task\'s; set it in the task block']);
  });

  it("a variable nobody declared: refused (Nomad's \"Unsupported attribute\" on var)", async () => {
    expect(await errors(job('      driver = "docker"\n      config {\n        image = "redis:${var.tag}"\n      }'))).toEqual([
      'job.hcl:9:26: job.group[g].task[t].config.image: there is no variable named "tag"; declare it in a variable block',
    ]);
  });

  it("healthy_deadline at or past the progress_deadline, 10m when not written: Nomad's \"Healthy deadline must be less than progress deadline\"", async () => {
    const lines = await errors(job(undefined, "", '  update {\n    healthy_deadline = "15m"\n  }'));
    expect(lines).toEqual(["job.hcl:3:3: job.update.progress_deadline: healthy_deadline must be less than progress_deadline: 15m0s >= 10m0s (progress_deadline is 10m unless set; 0 turns it off)"]);
    const j = await ok(job(undefined, "", '  update {\n    healthy_deadline = "15m"\n    progress_deadline = "0s"\n  }'));
    expect(j.TaskGroups[0]?.Update?.ProgressDeadline).toBe(0);
  });

  it("a group of lifecycle tasks alone: Nomad's \"must have at least one main task\" (learn-nomad-sd hashicups)", async () => {
    const lines = await errors(job('      driver = "docker"\n      lifecycle {\n        hook = "prestart"\n      }\n      config {\n        image = "redis:7"\n      }'));
    expect(lines).toEqual(['job.hcl:4:3: job.group[g].task: group "g" must have at least one main task (a task without a lifecycle block)']);
  });

  it("a task schedule: Nomad's community edition says \"task schedules requires Nomad Enterprise\"", async () => {
    const lines = await errors(job('      driver = "docker"\n      config {\n        image = "redis:7"\n      }\n      schedule {\n        cron {\n          start = "0 8 * * *"\n          end = "0 17 * * *"\n        }\n      }'));
    expect(lines).toEqual(["job.hcl:11:7: job.group[g].task[t].schedule: \"schedule\": task schedules require Nomad Enterprise (as Nomad's community edition, Ruche refuses the block)"]);
  });
});

describe("what Ruche does not have, one reason each", () => {
  it("a device request (GPU, USB: Nomad's device plugins) and NUMA (Nomad Enterprise)", async () => {
    const res = (block: string): string => job(`      driver = "docker"\n      config {\n        image = "redis:7"\n      }\n      resources {\n        cpu = 100\n${block}\n      }`);
    expect(await errors(res('        device "1cf1/usb/0030" {}'))).toEqual([
      "job.hcl:13:9: job.group[g].task[t].resources.device: \"device\": Ruche runs no device plugins (Nomad's GPU and USB device plugins): give a docker task a host device with its config's devices",
    ]);
    expect(await errors(res('        numa {\n          affinity = "require"\n        }'))).toEqual([
      "job.hcl:13:9: job.group[g].task[t].resources.numa: \"numa\": NUMA-aware scheduling requires Nomad Enterprise (as Nomad's community edition, Ruche refuses the block)",
    ]);
  });
});

describe("what Nomad takes and fails at the node, refused before (said so)", () => {
  it("docker ports naming a label the network does not declare (nomadder nats): Nomad's \"Port ... not found, check network block\"", async () => {
    const src = job('      driver = "docker"\n      config {\n        image = "redis:7"\n        ports = ["prometheus_exporter"]\n      }', '    network {\n      port "prometheus-exporter" {}\n    }');
    expect(await errors(src)).toEqual([
      'job.hcl:12:9: job.group[g].task[t].config.ports: ports names "prometheus_exporter", which the group\'s network does not declare; did you mean "prometheus-exporter"? (Nomad fails the task as it starts: Port "prometheus_exporter" not found, check network block)',
    ]);
  });

  it("docker tmpfs, no option of Nomad's docker driver (mclare STACK): refused, pointing at the tmpfs mount it has", async () => {
    const src = job('      driver = "docker"\n      config {\n        image = "redis:7"\n        tmpfs = ["/tmp:rw"]\n      }');
    expect(await errors(src)).toEqual([
      'job.hcl:10:9: job.group[g].task[t].config.tmpfs: "tmpfs" is not an option of the docker driver; a tmpfs is a mount: mount { type = "tmpfs" target = "/tmp" } (Nomad\'s fails the task as it starts: An argument named "tmpfs" is not expected here)',
    ]);
    const j = await ok(job('      driver = "docker"\n      config {\n        image = "redis:7"\n        mount {\n          type = "tmpfs"\n          target = "/tmp"\n        }\n      }'));
    expect([j.TaskGroups[0]?.Tasks[0]?.Config.mount].flat()).toEqual([{ type: "tmpfs", target: "/tmp" }]);
  });
});

describe("drivers Ruche's nodes do not run: one reason each", () => {
  const driver = (name: string): string => job(`      driver = "${name}"\n      config {\n        command = "x"\n      }`);

  it("qemu, one of Nomad's own, which runs virtual machines (DistroByte vms)", async () => {
    const [line] = await errors(driver("qemu"));
    expect(line).toMatch(/^job\.hcl:7:7: job\.group\[g\]\.task\[t\]\.driver: driver "qemu" is Nomad's built-in QEMU driver, which runs virtual machines; Ruche does not run it \(its drivers: docker, .*\)$/);
  });

  it("pledge and exec2, plugins Nomad loads from its plugin directory (e2e docker docker_config)", async () => {
    const [pledge] = await errors(driver("pledge"));
    expect(pledge).toMatch(/driver "pledge" is a task driver plugin \(shoenig\/nomad-pledge-driver\) that Nomad loads from its plugin directory; Ruche loads no driver plugins \(its drivers: docker, /);
    const [exec2] = await errors(driver("exec2"));
    expect(exec2).toMatch(/driver "exec2" is a task driver plugin \(hashicorp\/nomad-driver-exec2\)/);
  });

  it("any other name is an unknown driver, with a did-you-mean", async () => {
    const [line] = await errors(driver("dockr"));
    expect(line).toMatch(/driver: unknown driver "dockr"; Ruche has docker, .*; did you mean "docker"\?$/);
  });
});
