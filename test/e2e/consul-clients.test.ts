/**
 * The tools people already use against Consul, used as they would be, against a dev agent:
 * curl on the HTTP API, dig on the DNS interface, the `consul` npm client's watches, and
 * Ruche's own CLI for service definition files (reload, SIGHUP), `kv watch` and `kv lock`.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Consul from "consul";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockingQueries, ruche, rucheRunning, startAgentProcess, until, type AgentProcess } from "./harness.js";

const exec = promisify(execFile);

let agent: AgentProcess;
let dir = "";
let configDir = "";

/** Runs a command that must be installed (scripts/test-deps.sh installs curl and dig); its stdout. */
async function run(file: string, ...args: string[]): Promise<string> {
  try {
    return (await exec(file, args, { timeout: 20_000 })).stdout;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") throw new Error(`${file} is not installed: scripts/test-deps.sh installs it (Debian package ${file === "dig" ? "dnsutils" : file})`, { cause: err });
    throw err;
  }
}

const curl = (...args: string[]): Promise<string> => run("curl", "-sS", "--fail-with-body", ...args);
const consulUrl = (path: string): string => `http://${agent.consulAddress}${path}`;

/** The catalog entries of a service, read with curl as article 2 does. */
async function catalogService(name: string): Promise<{ ServiceID: string; ServiceName: string; ServicePort: number; ServiceTags: string[]; Datacenter: string }[]> {
  return JSON.parse(await curl(consulUrl(`/v1/catalog/service/${name}?pretty`))) as never;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-consul-e2e-"));
  configDir = join(dir, "consul.d");
  await exec("mkdir", ["-p", configDir]);
  // Article 2's web.json, as it is.
  writeFileSync(join(configDir, "web.json"), JSON.stringify({ service: { name: "demo", tags: ["traefik.tags=exposed"], port: 80 } }, null, 4));
  agent = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "0", "-router-dashboard-port", "0", "-datacenter", "europe-west1", "-config-dir", configDir]);
}, 60_000);

afterAll(async () => {
  await agent.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("service definition files", () => {
  it("registers the config dir's services at start: curl finds article 2's demo service", async () => {
    expect(agent.out()).toMatch(/Config: +\S+consul\.d \(1 services defined\)/);
    const text = await curl(consulUrl("/v1/catalog/service/demo?pretty"));
    expect(text).toContain('\n    {\n        "ID"');
    const [entry] = JSON.parse(text) as { ServiceName: string; ServicePort: number; ServiceTags: string[]; Datacenter: string; ServiceID: string }[];
    expect(entry).toMatchObject({ ServiceID: "demo", ServiceName: "demo", ServicePort: 80, ServiceTags: ["traefik.tags=exposed"], Datacenter: "europe-west1" });
  });

  it("ruche agent reload adds and changes services; a bad file is named and changes nothing; SIGHUP removes what left the dir", async () => {
    writeFileSync(join(configDir, "api.json"), JSON.stringify({ services: [{ name: "api", id: "api-1", port: 8081, check: { ttl: "30s" } }, { name: "api", id: "api-2", port: 8082 }] }));
    writeFileSync(join(configDir, "web.json"), JSON.stringify({ service: { name: "demo", tags: ["traefik.tags=exposed", "v2"], port: 80 } }));
    const ok = await ruche(agent.address, dir, "agent", "reload");
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    expect((await catalogService("api")).map((e) => e.ServicePort).sort()).toEqual([8081, 8082]);
    expect((await catalogService("demo"))[0]?.ServiceTags).toEqual(["traefik.tags=exposed", "v2"]);

    writeFileSync(join(configDir, "broken.json"), '{"service": {"name": "x", "port": "eighty"}}');
    writeFileSync(join(configDir, "other.json"), "{ not json");
    unlinkSync(join(configDir, "api.json"));
    const bad = await ruche(agent.address, dir, "agent", "reload");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/broken\.json: service\.Port: must be a port number/);
    expect(bad.err).toMatch(/other\.json: not JSON/);
    // Nothing changed: api is still there although its file is gone.
    expect(await catalogService("api")).toHaveLength(2);

    unlinkSync(join(configDir, "broken.json"));
    unlinkSync(join(configDir, "other.json"));
    agent.child.kill("SIGHUP");
    await until("api to leave the catalog after SIGHUP", async () => ((await catalogService("api")).length === 0 ? true : undefined), 10_000);
    expect(await catalogService("demo")).toHaveLength(1);
    expect(agent.out()).toMatch(/Reloaded the config dir: 0 services registered, 2 deregistered, 1 unchanged/);
  });
});

describe("curl and dig", () => {
  it("registers a service with a TTL check with curl, passes it, and dig answers SRV and A with it only once it passes", async () => {
    const def = join(dir, "payments.json");
    writeFileSync(def, JSON.stringify({ ID: "payments-1", Name: "payments", Tags: ["primary"], Address: "127.0.0.1", Port: 9090, Check: { CheckID: "payments-ttl", TTL: "30s" } }));
    await curl("-X", "PUT", "--data", `@${def}`, consulUrl("/v1/agent/service/register"));
    const [host, port] = agent.dnsAddress.split(":") as [string, string];
    const dig = (name: string, type: string): Promise<string> => run("dig", `@${host}`, "-p", port, name, type, "+short", "+tries=1", "+time=5");
    expect((await dig("payments.service.consul", "SRV")).trim()).toBe("");
    const status = await run("dig", `@${host}`, "-p", port, "nothing.service.consul", "A", "+tries=1", "+time=5");
    expect(status).toMatch(/status: NXDOMAIN/);
    expect(status).toMatch(/AUTHORITY SECTION:\nconsul\.\s+\d+\s+IN\s+SOA/);

    await curl("-X", "PUT", consulUrl("/v1/agent/check/pass/payments-ttl?note=ok"));
    expect((await dig("payments.service.consul", "SRV")).trim()).toBe("1 1 9090 7f000001.addr.europe-west1.consul."); // its own address, as Consul names it
    expect((await dig("primary.payments.service.consul", "SRV")).trim()).toMatch(/ 9090 /);
    expect((await dig("payments.service.europe-west1.consul", "A")).trim()).toBe("127.0.0.1");
    const health = JSON.parse(await curl(consulUrl("/v1/health/service/payments?passing"))) as { Checks: { CheckID: string; Status: string; Output: string }[] }[];
    expect(health[0]?.Checks.find((c) => c.CheckID === "payments-ttl")).toMatchObject({ Status: "passing", Output: "ok" });

    await curl("-X", "PUT", consulUrl("/v1/agent/service/deregister/payments-1"));
    expect((await dig("payments.service.consul", "SRV")).trim()).toBe("");
  });

  it("sets and gets KV with curl, as against Consul: raw values, cas, recurse, a missing key 404", async () => {
    expect((await curl("-X", "PUT", "--data", "Hello world", consulUrl("/v1/kv/foo"))).trim()).toBe("true");
    expect(await curl(consulUrl("/v1/kv/foo?raw"))).toBe("Hello world");
    const [e] = JSON.parse(await curl(consulUrl("/v1/kv/foo"))) as { Value: string; ModifyIndex: number }[];
    expect(Buffer.from(e?.Value ?? "", "base64").toString()).toBe("Hello world");
    expect((await curl("-X", "PUT", "--data", "x", consulUrl(`/v1/kv/foo?cas=${(e?.ModifyIndex ?? 0) + 1000}`))).trim()).toBe("false");
    const missing = await exec("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", consulUrl("/v1/kv/nothing/here")]);
    expect(missing.stdout).toBe("404");
    await curl("-X", "DELETE", consulUrl("/v1/kv/foo"));
  });
});

describe("watches", () => {
  it("the consul client's watch sees a key change and a service turn passing", async () => {
    const [host, port] = agent.consulAddress.split(":") as [string, string];
    const consul = new Consul({ host, port: Number(port) });
    await consul.kv.set("watched/key", "one");
    const kvSeen: string[] = [];
    // The client calls the method on itself, as its documentation shows.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const kvWatch = consul.watch({ method: consul.kv.get, options: { key: "watched/key" }, backoffFactor: 10 });
    kvWatch.on("change", (data: { Value?: string } | undefined) => {
      if (data?.Value !== undefined) kvSeen.push(data.Value);
    });
    kvWatch.on("error", () => undefined);
    await until("the first answer", () => (kvSeen.length > 0 ? true : undefined), 10_000);
    await consul.kv.set("watched/key", "two");
    await until("the change", () => (kvSeen.includes("two") ? true : undefined), 10_000);
    kvWatch.end();
    expect(kvSeen).toEqual(["one", "two"]);

    await consul.agent.service.register({ name: "watched", id: "watched-1", port: 7070, check: { ttl: "30s" } } as never);
    const passing: number[] = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const healthWatch = consul.watch({ method: consul.health.service, options: { service: "watched", passing: true } as never, backoffFactor: 10 });
    healthWatch.on("change", (data: unknown[]) => passing.push(data.length));
    healthWatch.on("error", () => undefined);
    await until("the first answer", () => (passing.length > 0 ? true : undefined), 10_000);
    const sent = Date.now();
    await consul.agent.check.pass("service:watched-1");
    await until("the instance to be passing", () => (passing.at(-1) === 1 ? true : undefined), 10_000);
    // One check interval would be the most; a blocking query answers at once.
    expect(Date.now() - sent).toBeLessThan(5_000);
    healthWatch.end();
    expect(passing[0]).toBe(0);
  });

  it("ruche kv watch prints the value, then each new one", async () => {
    await ruche(agent.address, dir, "kv", "put", "config/color", "blue");
    const watching = rucheRunning(agent.address, dir, "kv", "watch", "-once", "config/color");
    await until("the watch to print the value it starts from", () => (watching.out() === "blue\n" ? true : undefined));
    await until("the watch's blocking query to wait", async () => ((await blockingQueries(agent.address, "kv")) === 1 ? true : undefined));
    await ruche(agent.address, dir, "kv", "put", "config/color", "green");
    const r = await watching.done;
    expect(r.code).toBe(0);
    expect(r.out).toBe("blue\ngreen\n");

    const tree = rucheRunning(agent.address, dir, "kv", "watch", "-recurse", "-once", "config/");
    await until("the watch to print the tree it starts from", () => (tree.out() === "PUT config/color green\n" ? true : undefined));
    await until("the watch's blocking query to wait", async () => ((await blockingQueries(agent.address, "kv")) === 1 ? true : undefined));
    await ruche(agent.address, dir, "kv", "delete", "config/color");
    expect((await tree.done).out).toBe("PUT config/color green\nDELETE config/color\n");
  });
});

describe("ruche kv lock", () => {
  it("runs one holder's command at a time, and exits with its exit code", async () => {
    const log = join(dir, "lock.log");
    writeFileSync(log, "");
    const holder = (n: number): Promise<{ code: number }> =>
      ruche(agent.address, dir, "kv", "lock", "-name", `holder ${n}`, "locks/job", "/bin/sh", "-c", `echo start ${n} >> ${log}; sleep 0.4; echo end ${n} >> ${log}; exit ${n}`);
    const results = await Promise.all([holder(3), holder(4), holder(5)]);
    expect(results.map((r) => r.code)).toEqual([3, 4, 5]);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines).toHaveLength(6);
    for (let i = 0; i < 6; i += 2) expect(lines[i + 1]).toBe(lines[i]?.replace("start", "end"));
    // The lock is free again, and no session is left behind.
    const [e] = JSON.parse(await curl(consulUrl("/v1/kv/locks/job/.lock"))) as { Session?: string }[];
    expect(e?.Session ?? "").toBe("");
    expect(JSON.parse(await curl(consulUrl("/v1/session/list")))).toEqual([]);
  });

  it("stops the command and exits 1 when the lock is lost", async () => {
    const running = ruche(agent.address, dir, "kv", "lock", "locks/lost", "/bin/sh", "-c", "echo holding; sleep 30");
    const session = await until("the lock to be held", async () => {
      const [e] = JSON.parse(await curl(consulUrl("/v1/kv/locks/lost/.lock"))) as { Session?: string }[];
      return e?.Session === undefined || e.Session === "" ? undefined : e.Session;
    });
    const started = Date.now();
    await curl("-X", "PUT", consulUrl(`/v1/session/destroy/${session}`));
    const r = await running;
    expect(r.code).toBe(1);
    expect(r.out).toBe("holding\n");
    expect(r.err).toMatch(/Lost the lock on locks\/lost\/\.lock/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("refuses a command line without a command, saying what is missing", async () => {
    const r = await ruche(agent.address, dir, "kv", "lock", "locks/x");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/needs CMD/);
  });
});
