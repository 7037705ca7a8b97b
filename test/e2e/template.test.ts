/**
 * `template` blocks on a real dev agent (raw_exec): a job whose template reads a KV key and
 * a service waits, saying so ("Missing: kv.block(app/greeting)"), until `ruche kv put`
 * writes the key; the task then starts and reads the rendered file and the environment an
 * `env = true` template gave it. Writing the key again renders the file again and, by
 * `change_mode = "restart"`, restarts the task ("Template with change_mode restart
 * re-rendered"), which reads the new value. A template reading a Nomad variable and Nomad's
 * service API waits for the variable ("Missing: nomad.var.block(app/config)") and renders again
 * when `ruche var put` changes it; a docker task sees its rendered files at /local. With
 * `restart { render_templates = true }`, `alloc restart` renders the templates again before
 * the task starts (the file it removed is back). A service with a custom `address` is shown
 * there by Nomad's service API and read so by `nomadService`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { ruche, startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let dir = "";

const WEB = `job "tpl-web" {
  datacenters = ["dc1"]
  group "web" {
    network {
      port "http" {}
    }
    service {
      name = "tpl-web"
      port = "http"
      tags = ["blue"]
    }
    service {
      name     = "tpl-web-public"
      provider = "nomad"
      port     = "http"
      address  = "192.0.2.10"
    }
    task "web" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 3600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const APP = `job "tpl-app" {
  datacenters = ["dc1"]
  group "app" {
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo \\"file: $(cat local/app.conf | tr '\\\\n' ' ')\\"; echo \\"env: $GREETING_ENV\\"; echo \\"perms: $(stat -c %a local/app.conf)\\"; sleep 3600"]
      }
      template {
        data        = <<EOT
greeting={{ key "app/greeting" }}
{{- range service "tpl-web" }}
web={{ .Address }}:{{ .Port }} tags={{ join "," .Tags }}
{{- end }}
alloc={{ env "NOMAD_ALLOC_NAME" }}
EOT
        destination = "local/app.conf"
        perms       = "0640"
        splay       = "0s"
        change_mode = "restart"
      }
      template {
        data        = "GREETING_ENV=[[ key \\"app/greeting\\" | toUpper ]]"
        destination = "secrets/app.env"
        env         = true
        left_delimiter  = "[["
        right_delimiter = "]]"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const VARS = `job "tpl-vars" {
  datacenters = ["dc1"]
  group "app" {
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo \\"file: $(cat local/vars.conf | tr '\\\\n' ' ')\\"; sleep 3600"]
      }
      template {
        data        = <<EOT
{{- with nomadVar "app/config" }}user={{ .user }} pass={{ .pass }}{{ end }}
{{- range nomadService "tpl-web" }}
web={{ .Address }}:{{ .Port }} job={{ .JobID }}
{{- end }}
EOT
        destination = "local/vars.conf"
        splay       = "0s"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const RERENDER = `job "tpl-rerender" {
  datacenters = ["dc1"]
  group "app" {
    restart {
      render_templates = true
    }
    task "app" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo \\"file: $(cat local/once.conf)\\"; rm local/once.conf; sleep 3600"]
      }
      template {
        data        = "web={{ range nomadService \\"tpl-web-public\\" }}{{ .Address }}:{{ .Port }}{{ end }}"
        destination = "local/once.conf"
        change_mode = "noop"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`;

const DOCKER = `job "tpl-docker" {
  datacenters = ["dc1"]
  type        = "batch"
  group "app" {
    task "app" {
      driver = "docker"
      config {
        image   = "ruche-test/busybox:latest"
        command = "sh"
        args    = ["-c", "echo \\"file: $(cat /local/app.conf) env: $GREETING_ENV\\""]
      }
      template {
        data        = "greeting={{ key \\"docker/greeting\\" }} dir={{ env \\"NOMAD_TASK_DIR\\" }}"
        destination = "local/app.conf"
      }
      template {
        data        = "GREETING_ENV={{ key \\"docker/greeting\\" }}"
        destination = "secrets/app.env"
        env         = true
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-template-e2e-"));
  writeFileSync(join(dir, "web.hcl"), WEB);
  writeFileSync(join(dir, "app.hcl"), APP);
  writeFileSync(join(dir, "vars.hcl"), VARS);
  writeFileSync(join(dir, "docker.hcl"), DOCKER);
  writeFileSync(join(dir, "rerender.hcl"), RERENDER);
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1"]);
  // The service both tests' templates read.
  const web = await ruche(agent.address, dir, "job", "run", "-detach", "web.hcl");
  if (web.code !== 0) throw new Error(`running web.hcl failed: ${web.err}`);
}, 60_000);

afterAll(async () => {
  if (agent !== undefined) await agent.stop();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("a task's templates", () => {
  it("wait for a key, render it and a service before the task starts, and restart the task when the key changes", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const webPort = await until("the web service in the catalog", async () => {
      const entries = (await api.healthService("tpl-web")).body;
      return entries[0]?.Service.Port;
    });

    const run = await ruche(a.address, dir, "job", "run", "-detach", "app.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const allocId = await until("the app's allocation", async () => (await api.jobAllocations("tpl-app")).body[0]?.ID);
    // The key does not exist: the task waits, and says for what.
    const missing = await until(
      "a Missing event",
      async () => {
        const alloc = (await api.allocation(allocId)).body;
        return alloc.TaskStates.app?.Events.find((e) => e.Type === "Template" && e.Message.startsWith("Missing:"))?.Message;
      },
      20_000,
    );
    expect(missing).toBe("Missing: kv.block(app/greeting)");
    expect((await api.allocation(allocId)).body.TaskStates.app?.State).toBe("pending");

    expect((await ruche(a.address, dir, "kv", "put", "app/greeting", "hello")).code).toBe(0);
    const logs = async (): Promise<string> => (await ruche(a.address, dir, "alloc", "logs", allocId, "app")).out;
    const first = await until("the task's first output", async () => {
      const out = await logs();
      return out.includes("perms:") ? out : undefined;
    });
    expect(first).toContain(`file: greeting=hello web=127.0.0.1:${webPort} tags=blue alloc=tpl-app.app[0]`);
    expect(first).toContain("env: HELLO");
    expect(first).toContain("perms: 640");

    expect((await ruche(a.address, dir, "kv", "put", "app/greeting", "bonjour")).code).toBe(0);
    const second = await until("the task restarted with the new value", async () => {
      const out = await logs();
      return out.includes("env: BONJOUR") ? out : undefined;
    });
    expect(second).toContain(`file: greeting=bonjour web=127.0.0.1:${webPort} tags=blue alloc=tpl-app.app[0]`);
    const state = (await api.allocation(allocId)).body.TaskStates.app;
    expect(state?.Restarts).toBe(1);
    expect(state?.Events.some((e) => e.Type === "Restart Signaled" && e.Message === "Template with change_mode restart re-rendered")).toBe(true);
  }, 90_000);

  it("read Nomad variables and Nomad's service API, waiting for the variable, and render again when it changes", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const webPort = await until("the web service in the catalog", async () => (await api.healthService("tpl-web")).body[0]?.Service.Port);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "vars.hcl");
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const allocId = await until("the allocation", async () => (await api.jobAllocations("tpl-vars")).body[0]?.ID);
    const missing = await until("a Missing event", async () => (await api.allocation(allocId)).body.TaskStates.app?.Events.find((e) => e.Message.startsWith("Missing:"))?.Message, 20_000);
    expect(missing).toBe("Missing: nomad.var.block(app/config)");

    expect((await ruche(a.address, dir, "var", "put", "app/config", "user=ann", "pass=one")).code).toBe(0);
    const logs = async (): Promise<string> => (await ruche(a.address, dir, "alloc", "logs", allocId, "app")).out;
    const first = await until("the task's output", async () => ((await logs()).includes("file:") ? await logs() : undefined));
    expect(first).toContain(`file: user=ann pass=one web=127.0.0.1:${webPort} job=tpl-web`);

    expect((await ruche(a.address, dir, "var", "put", "-force", "app/config", "user=ann", "pass=two")).code).toBe(0);
    const second = await until("the task restarted with the new value", async () => ((await logs()).includes("pass=two") ? await logs() : undefined));
    expect(second).toContain(`file: user=ann pass=two web=127.0.0.1:${webPort} job=tpl-web`);
  }, 90_000);

  it("render again on a restart with render_templates = true; a service's custom address is what Nomad's API shows", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    const webPort = await until("the web service in the catalog", async () => (await api.healthService("tpl-web")).body[0]?.Service.Port);
    const services = (await api.request<{ Address: string; Port: number }[]>("GET", "/v1/service/tpl-web-public")).body;
    expect(services.map((s) => [s.Address, s.Port])).toEqual([["192.0.2.10", webPort]]);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "rerender.hcl");
    expect(run.err).toBe("");
    const allocId = await until("the allocation", async () => (await api.jobAllocations("tpl-rerender")).body[0]?.ID);
    const logs = async (): Promise<string> => (await ruche(a.address, dir, "alloc", "logs", allocId, "app")).out;
    await until("the task's first output", async () => ((await logs()).includes("file:") ? true : undefined));
    expect((await ruche(a.address, dir, "alloc", "restart", allocId)).code).toBe(0);
    const both = await until("the task's output after the restart", async () => {
      const out = await logs();
      return out.split("file:").length > 2 ? out : undefined;
    });
    expect(both).toBe(`file: web=192.0.2.10:${webPort}\nfile: web=192.0.2.10:${webPort}\n`);
  }, 90_000);

  it("render into a docker task's directories, which it sees at /local and /secrets", async () => {
    const a = agent as AgentProcess;
    const api = new ApiClient(a.address);
    expect((await ruche(a.address, dir, "kv", "put", "docker/greeting", "ahoy")).code).toBe(0);
    const run = await ruche(a.address, dir, "job", "run", "-detach", "docker.hcl");
    expect(run.err).toBe("");
    const allocId = await until(
      "the docker task complete",
      async () => {
        const stub = (await api.jobAllocations("tpl-docker")).body[0];
        if (stub?.ClientStatus === "failed") throw new Error(`the allocation failed: ${JSON.stringify(stub.TaskStates)}`);
        return stub?.ClientStatus === "complete" ? stub.ID : undefined;
      },
      60_000,
    );
    const out = (await ruche(a.address, dir, "alloc", "logs", allocId, "app")).out;
    expect(out.trim()).toBe("file: greeting=ahoy dir=/local env: ahoy");
  }, 90_000);
});
