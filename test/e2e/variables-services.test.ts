/**
 * Nomad's variables and native service discovery, end to end, on a real agent with ACLs on
 * (plain HTTP) running a real raw_exec task: the task's workload identity reads its job's,
 * group's and task's variables and nothing else; a `provider = "nomad"` service shows in
 * `/v1/service/:name` with the task's allocation and port, and in Consul's catalog too; a
 * policy's `variables` block decides what a token may do; the CLI (`ruche var`, `ruche
 * service`) works against it with the token from `NOMAD_TOKEN`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type IO } from "../../src/cli/index.js";
import { parseJob } from "../../src/jobspec/index.js";
import { root, rucheProgram, sideBySide, until } from "./harness.js";

let dir = "";
let agent: ChildProcess | undefined;
let out = "";
let api = "";
let consul = "";
let mgmt = "";

const JOB = `job "vs" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "http" {}
    }
    service {
      name     = "vs-web"
      provider = "nomad"
      port     = "http"
      tags     = ["nomad-native"]
    }
    task "show" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec sleep 3600"]
      }
      identity {
        file = true
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}`;

async function call(method: string, path: string, token?: string, body?: unknown, at = api): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${at}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token === undefined ? {} : { "x-nomad-token": token }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

async function ruche(token: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let o = "";
  let e = "";
  const io: IO = { out: (t) => (o += t), err: (t) => (e += t), env: { NOMAD_ADDR: api, NOMAD_TOKEN: token }, cwd: dir };
  const code = await runCli(argv, io);
  return { code, out: o, err: e };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-vars-"));
  const conf = join(dir, "agent.hcl");
  writeFileSync(conf, 'plugin "raw_exec" {\n  config { enabled = true }\n}\n');
  const args = [rucheProgram(), "agent", "-server", "-client", "-acl-enabled", "-tls-enabled=false", "-bind", "127.0.0.1", "-data-dir", join(dir, "data"), "-node", "vars", "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-config", conf];
  args.push(...sideBySide(args.slice(1)));
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  agent = child;
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
  const printed = (re: RegExp): string | undefined => re.exec(out)?.[1];
  api = await until("the agent's API address", () => printed(/^ {4}API: +http:\/\/(\S+)$/m));
  consul = await until("the agent's Consul address", () => printed(/^ {4}Consul: +http:\/\/(\S+)/m));
  await until("a leader", async () => ((await call("GET", "/v1/status/leader")).text.length > 2 ? true : undefined));
  const boot = await call("PUT", "/v1/acl/bootstrap");
  expect(boot.status, boot.text).toBe(200);
  mgmt = (JSON.parse(boot.text) as { SecretID: string }).SecretID;
  await until("the agent's node ready", async () => {
    const nodes = JSON.parse((await call("GET", "/v1/nodes", mgmt)).text) as { Status: string }[];
    return nodes.some((n) => n.Status === "ready") ? true : undefined;
  });
}, 90_000);

afterAll(async () => {
  if (agent !== undefined && agent.exitCode === null) {
    if (mgmt !== "") {
      await call("DELETE", "/v1/job/vs", mgmt);
      await until("vs's task stopped", async () => {
        const allocs = JSON.parse((await call("GET", "/v1/job/vs/allocations", mgmt)).text) as { ClientStatus: string }[];
        return allocs.every((a) => a.ClientStatus !== "running" && a.ClientStatus !== "pending") ? true : undefined;
      }, 60_000);
    }
    const gone = new Promise((r) => agent?.once("exit", r));
    agent.kill("SIGTERM");
    await gone;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("Nomad's variables and services on a real agent", () => {
  it("lets the task's identity read its own variables, serves its nomad service, and takes the CLI", async () => {
    for (const path of ["nomad/jobs/vs", "nomad/jobs/vs/g/show", "nomad/jobs/other", "app/secret"]) {
      const r = await ruche(mgmt, "var", "put", path, `where=${path}`);
      expect(r.out, r.err).toMatch(/^Created variable/);
    }
    const parsed = await parseJob(JOB, { file: "job.hcl" });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.diagnostics));
    expect((await call("PUT", "/v1/jobs", mgmt, { Job: parsed.job })).status).toBe(200);
    const alloc = await until("an allocation of vs running", async () => {
      const allocs = JSON.parse((await call("GET", "/v1/job/vs/allocations", mgmt)).text) as { ID: string; ClientStatus: string }[];
      return allocs.find((a) => a.ClientStatus === "running");
    }, 60_000);
    const token = await until("the task's secrets/nomad_token", () => {
      try {
        return readFileSync(join(dir, "data", "alloc", alloc.ID, "show", "secrets", "nomad_token"), "utf8") || undefined;
      } catch {
        return undefined;
      }
    });

    // The identity reads its job's and task's variables, and no other.
    const mine = await call("GET", "/v1/var/nomad/jobs/vs/g/show", token);
    expect(mine.status, mine.text).toBe(200);
    expect((JSON.parse(mine.text) as { Items: unknown }).Items).toEqual({ where: "nomad/jobs/vs/g/show" });
    expect((await call("GET", "/v1/var/nomad/jobs/vs", token)).status).toBe(200);
    expect((await call("GET", "/v1/var/nomad/jobs/other", token)).status).toBe(403);
    expect((await call("GET", "/v1/var/app/secret", token)).status).toBe(403);
    expect((await call("PUT", "/v1/var/nomad/jobs/vs", token, { Items: { x: "y" } })).status).toBe(403);
    expect((JSON.parse((await call("GET", "/v1/vars", token)).text) as { Path: string }[]).map((v) => v.Path)).toEqual(["nomad/jobs/vs", "nomad/jobs/vs/g/show"]);

    // Its provider = "nomad" service, in Nomad's view (read by the identity) and in Consul's.
    const regs = await until("vs-web in /v1/service", async () => {
      const list = JSON.parse((await call("GET", "/v1/service/vs-web", token)).text) as { AllocID: string; JobID: string; Port: number; Tags: string[]; Namespace: string }[];
      return list.length > 0 ? list : undefined;
    });
    const a = JSON.parse((await call("GET", `/v1/allocation/${alloc.ID}`, mgmt)).text) as { Resources: { Networks: { DynamicPorts: { Label: string; Value: number }[] }[] } };
    const port = a.Resources.Networks.flatMap((n) => n.DynamicPorts).find((p) => p.Label === "http")?.Value;
    expect(regs).toMatchObject([{ AllocID: alloc.ID, JobID: "vs", Namespace: "default", Tags: ["nomad-native"], Port: port }]);
    expect((JSON.parse((await call("GET", "/v1/catalog/service/vs-web", mgmt, undefined, consul)).text) as { ServicePort: number }[]).map((s) => s.ServicePort)).toEqual([port]);
    const info = await ruche(mgmt, "service", "info", "vs-web");
    expect(info.out, info.err).toContain(alloc.ID.slice(0, 8));
    expect((await ruche(mgmt, "service", "list")).out).toContain("vs-web");
  }, 120_000);

  it("lets a token do what its policy's variables block grants", async () => {
    const rules = 'namespace "default" {\n  variables {\n    path "app/*" { capabilities = ["read"] }\n    path "app/secret" { capabilities = ["deny"] }\n  }\n}\n';
    expect((await call("PUT", "/v1/acl/policy/vars-read", mgmt, { Name: "vars-read", Rules: rules })).status).toBe(200);
    const created = await call("PUT", "/v1/acl/token", mgmt, { Name: "reader", Type: "client", Policies: ["vars-read"] });
    expect(created.status, created.text).toBe(200);
    const reader = (JSON.parse(created.text) as { SecretID: string }).SecretID;
    await ruche(mgmt, "var", "put", "app/open", "k=v");
    expect((await ruche(reader, "var", "get", "-item", "k", "app/open")).out).toBe("v\n");
    const denied = await ruche(reader, "var", "get", "app/secret");
    expect(denied.code).toBe(1);
    expect(denied.err).toContain("Permission denied");
    expect((await ruche(reader, "var", "put", "-force", "app/open", "k=w")).code).toBe(1);
    expect((await ruche(reader, "var", "list", "-out", "terse")).out).toBe("app/open\n");
  });
});
