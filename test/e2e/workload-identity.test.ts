/**
 * Workload identities, end to end, on a real agent with ACLs on (`-acl-enabled`, plain HTTP
 * to keep the test about identities): a task whose `identity` block asks for it finds a JWT
 * the servers signed in `$NOMAD_TOKEN` and in `secrets/nomad_token` (0600), and with it may
 * read its own job and allocation and its job's keys, and nothing else: another job, the job
 * list, a write, another key are refused. The JWT verifies with the servers' public key from
 * `/.well-known/jwks.json`; it is in no answer to a management token, no event, no log line;
 * once its allocation stops it is refused.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createPublicKey, verify } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseJob } from "../../src/jobspec/index.js";
import { root, rucheProgram, sideBySide, startAgentProcess, until } from "./harness.js";

let dir = "";
let agent: ChildProcess | undefined;
let out = "";
let api = "";
let consul = "";
let mgmt = "";

const JOB = `job "wid" {
  datacenters = ["dc1"]
  group "g" {
    task "show" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "printf '%s' \\"$NOMAD_TOKEN\\" > \\"$NOMAD_ALLOC_DIR/env_token\\"; trap 'echo hup >> \\"$NOMAD_ALLOC_DIR/hups\\"' HUP; while true; do sleep 1; done"]
      }
      identity {
        env  = true
        file = true
      }
      identity {
        name = "short"
        aud  = ["example.com"]
        file = true
        ttl  = "4s"
        change_mode   = "signal"
        change_signal = "SIGHUP"
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}`;

const OTHER = JOB.replace('job "wid"', 'job "other"').replace(/identity \{[^}]*\}/g, "");

async function call(method: string, path: string, token?: string, body?: unknown, at = api): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${at}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token === undefined ? {} : { "x-nomad-token": token }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

async function submit(hcl: string): Promise<void> {
  const parsed = await parseJob(hcl, { file: "job.hcl" });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.diagnostics));
  const r = await call("PUT", "/v1/jobs", mgmt, { Job: parsed.job });
  expect(r.status, r.text).toBe(200);
}

async function runningAlloc(job: string): Promise<{ ID: string }> {
  return until(`an allocation of ${job} running`, async () => {
    const r = await call("GET", `/v1/job/${job}/allocations`, mgmt);
    const allocs = JSON.parse(r.text) as { ID: string; ClientStatus: string }[];
    return allocs.find((a) => a.ClientStatus === "running");
  }, 60_000);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-e2e-wid-"));
  const conf = join(dir, "agent.hcl");
  writeFileSync(conf, 'plugin "raw_exec" {\n  config { enabled = true }\n}\n');
  const args = [rucheProgram(), "agent", "-server", "-client", "-acl-enabled", "-tls-enabled=false", "-bind", "127.0.0.1", "-data-dir", join(dir, "data"), "-node", "wid", "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-config", conf];
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

/** Stops a job and waits until none of its tasks runs: no task of the test outlives it. */
async function stopJob(job: string, token: string | undefined, at = api): Promise<void> {
  const r = await call("DELETE", `/v1/job/${job}`, token, undefined, at);
  if (r.status !== 200) throw new Error(`stopping ${job}: ${r.status} ${r.text}`);
  await until(`${job}'s tasks stopped`, async () => {
    const allocs = JSON.parse((await call("GET", `/v1/job/${job}/allocations`, token, undefined, at)).text) as { ClientStatus: string }[];
    return allocs.every((a) => a.ClientStatus !== "running" && a.ClientStatus !== "pending") ? true : undefined;
  }, 60_000);
}

afterAll(async () => {
  if (agent !== undefined && agent.exitCode === null) {
    if (mgmt !== "") for (const job of ["wid", "other"]) await stopJob(job, mgmt);
    const gone = new Promise((r) => agent?.once("exit", r));
    agent.kill("SIGTERM");
    await gone;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("a task's workload identity", () => {
  it("is in its env and its secrets file, reads its own job and nothing else, and verifies with the servers' JWKS", async () => {
    await submit(OTHER);
    await submit(JOB);
    const alloc = await runningAlloc("wid");
    const taskDir = join(dir, "data", "alloc", alloc.ID);
    const file = join(taskDir, "show", "secrets", "nomad_token");
    const token = await until("the task's secrets/nomad_token", () => {
      try {
        return readFileSync(file, "utf8") || undefined;
      } catch {
        return undefined;
      }
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const fromEnv = await until("the task's $NOMAD_TOKEN, as it wrote it", () => {
      try {
        return readFileSync(join(taskDir, "alloc", "env_token"), "utf8") || undefined;
      } catch {
        return undefined;
      }
    });
    expect(fromEnv).toBe(token);

    // Nomad's claims, signed by a key the JWKS publishes.
    const [h, p, s] = token.split(".") as [string, string, string];
    const header = JSON.parse(Buffer.from(h, "base64url").toString()) as { alg: string; kid: string };
    const claims = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    expect(header.alg).toBe("ES256");
    expect(claims).toMatchObject({ nomad_namespace: "default", nomad_job_id: "wid", nomad_allocation_id: alloc.ID, nomad_task: "show", aud: "nomadproject.io", sub: "global:default:wid:g:show:default" });
    const jwks = await call("GET", "/.well-known/jwks.json");
    expect(jwks.status).toBe(200);
    const keys = (JSON.parse(jwks.text) as { keys: { kid: string; kty: string; crv: string; x: string; y: string; d?: string }[] }).keys;
    const jwk = keys.find((k) => k.kid === header.kid);
    if (jwk === undefined) throw new Error(`the JWKS has no key ${header.kid}: ${jwks.text}`);
    expect(keys.every((k) => k.d === undefined)).toBe(true);
    const pub = createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, format: "jwk" });
    expect(verify("sha256", Buffer.from(`${h}.${p}`), { key: pub, dsaEncoding: "ieee-p1363" }, Buffer.from(s, "base64url"))).toBe(true);

    // What it may do: its own job, its allocation, its job's keys, the services.
    expect((await call("GET", "/v1/job/wid", token)).status).toBe(200);
    expect((await call("GET", "/v1/job/wid/allocations", token)).status).toBe(200);
    expect((await call("GET", `/v1/allocation/${alloc.ID}`, token)).status).toBe(200);
    expect((await call("PUT", "/v1/kv/nomad/jobs/wid/config", mgmt, "x", consul)).status).toBe(200);
    expect((await call("PUT", "/v1/kv/secret/db", mgmt, "y", consul)).status).toBe(200);
    expect((await call("GET", "/v1/kv/nomad/jobs/wid/config", token, undefined, consul)).status).toBe(200);
    expect((await call("GET", "/v1/catalog/services", token, undefined, consul)).status).toBe(200);
    // And nothing else.
    const other = await runningAlloc("other");
    for (const [method, path] of [
      ["GET", "/v1/job/other"],
      ["GET", `/v1/allocation/${other.ID}`],
      ["GET", "/v1/jobs"],
      ["GET", "/v1/nodes"],
      ["PUT", "/v1/job/wid/scale"],
      ["DELETE", "/v1/job/wid"],
      ["PUT", "/v1/acl/token"],
    ] as const) {
      expect(await call(method, path, token, method === "GET" ? undefined : {}), `${method} ${path}`).toMatchObject({ status: 403 });
    }
    expect((await call("GET", "/v1/kv/secret/db", token, undefined, consul)).status).toBe(403);
    expect((await call("PUT", "/v1/kv/nomad/jobs/wid/config", token, "z", consul)).status).toBe(403);
    // A changed payload is not the servers' token.
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, nomad_job_id: "other" })).toString("base64url")}.${s}`;
    expect((await call("GET", "/v1/job/other", forged)).status).toBe(403);

    // Never shown: not to a management token's reads, not in the agent's output.
    expect((await call("GET", `/v1/allocation/${alloc.ID}`, mgmt)).text).not.toContain(s);
    expect((await call("GET", "/v1/job/wid/versions", mgmt)).text).not.toContain(s);
    expect(out).not.toContain(s);

    // A named identity with a ttl: for its audience, not this API; renewed before it expires.
    const shortFile = join(taskDir, "show", "secrets", "nomad_short.jwt");
    const short = readFileSync(shortFile, "utf8");
    const shortClaims = JSON.parse(Buffer.from(short.split(".")[1] ?? "", "base64url").toString()) as { aud: string; exp: number; iat: number };
    expect(shortClaims.aud).toBe("example.com");
    expect(shortClaims.exp - shortClaims.iat).toBe(4);
    expect((await call("GET", "/v1/job/wid", short)).status).toBe(403);
    await until("the ttl identity renewed in its file", () => (readFileSync(shortFile, "utf8") !== short ? true : undefined), 20_000);
    // Its change_mode: the task is sent SIGHUP, with Nomad's event.
    await until("the task signalled on the renewal", () => (existsSync(join(taskDir, "alloc", "hups")) ? true : undefined), 20_000);
    // The event reaches the servers with the node's next allocation update, not with the signal.
    const signalings = async (): Promise<(string | undefined)[]> => {
      const events = (JSON.parse((await call("GET", `/v1/allocation/${alloc.ID}`, mgmt)).text) as { TaskStates: Record<string, { Events: { Type: string; DisplayMessage?: string; Message?: string }[] }> }).TaskStates.show?.Events ?? [];
      return events.filter((e) => e.Type === "Signaling").map((e) => e.DisplayMessage ?? e.Message);
    };
    await until("the Signaling event on the servers", async () => ((await signalings()).length > 0 ? true : undefined), 20_000);
    expect(await signalings()).toContain("Identity[short]: new Identity token acquired");

    // Its allocation stopped, the token is refused.
    expect((await call("DELETE", "/v1/job/wid", mgmt)).status).toBe(200);
    await until("the token refused once its allocation stopped", async () => ((await call("GET", "/v1/job/wid", token)).status === 403 ? true : undefined));
  }, 120_000);

  it("is there in -dev too, ACLs off as ever: the task gets its token, anonymous calls still do everything", async () => {
    const dev = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "-1", "-dns-port", "-1", "-router-port", "-1", "-router-dashboard-port", "-1", "-data-dir", join(dir, "dev")]);
    try {
      const parsed = await parseJob(JOB, { file: "job.hcl" });
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.diagnostics));
      expect((await call("PUT", "/v1/jobs", undefined, { Job: parsed.job }, dev.address)).status).toBe(200);
      const alloc = await until("the -dev allocation running", async () => {
        const allocs = JSON.parse((await call("GET", "/v1/job/wid/allocations", undefined, undefined, dev.address)).text) as { ID: string; ClientStatus: string }[];
        return allocs.find((a) => a.ClientStatus === "running");
      }, 60_000);
      const token = await until("the -dev task's $NOMAD_TOKEN", () => {
        try {
          return readFileSync(join(dir, "dev", "alloc", alloc.ID, "alloc", "env_token"), "utf8") || undefined;
        } catch {
          return undefined;
        }
      });
      const kid = (JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString()) as { kid: string }).kid;
      const keys = (JSON.parse((await call("GET", "/.well-known/jwks.json", undefined, undefined, dev.address)).text) as { keys: { kid: string }[] }).keys;
      expect(keys.map((k) => k.kid)).toEqual([kid]);
      expect((await call("GET", "/v1/jobs", undefined, undefined, dev.address)).status).toBe(200);
    } finally {
      await stopJob("wid", undefined, dev.address);
      await dev.stop();
    }
  }, 120_000);
});
