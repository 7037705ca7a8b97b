/**
 * The etcd and fleet walkthrough, on Ruche: a server and three client agents on this
 * machine (127.0.0.1, their own ports and data dirs). The key/value store is set, read,
 * watched and locked from the CLI and with curl; a system job (fleet's `Global=true`) runs
 * on every node and on a fourth that joins; a job goes only to nodes with given metadata
 * (`MachineMetadata`), one beside it (`MachineOf`), one kept off its node (`Conflicts`).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, type AllocStub } from "../../src/apiclient/index.js";
import { type AgentProcess, alive, blockingQueries, NO_ACL_NO_TLS, processesOf, ruche, rucheRunning, sleeperJob, startAgentProcess, until } from "./harness.js";

const exec = promisify(execFile);

let dir = "";
let server: AgentProcess;
const clients: AgentProcess[] = [];
let api: ApiClient;
const JOBS = ["global", "db", "cache", "web"];

function startClient(name: string, disk: string): Promise<AgentProcess> {
  return startAgentProcess([...NO_ACL_NO_TLS, "-client", "-raw-exec", "-servers", server.address, "-data-dir", join(dir, name), "-node", name, "-http-port", "0", "-meta", `disk=${disk}`]);
}

async function cli(...argv: string[]) {
  return ruche(server.address, dir, ...argv);
}

/** The running allocations of a job, once there are `n`. */
async function runningAllocs(job: string, n: number): Promise<AllocStub[]> {
  return until(`${n} running allocations of ${job}`, async () => {
    const all = (await api.jobAllocations(job)).body.filter((a) => a.DesiredStatus === "run" && a.ClientStatus === "running");
    return all.length === n ? all : undefined;
  }, 60_000);
}

async function nodeName(id: string): Promise<string> {
  return (await api.node(id)).body.Name;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-fleet-e2e-"));
  server = await startAgentProcess([...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-data-dir", join(dir, "server"), "-http-port", "0", "-consul-port", "0", "-dns-port", "0"]);
  api = new ApiClient(server.address);
  clients.push(...(await Promise.all([startClient("core-1", "ssd"), startClient("core-2", "hdd"), startClient("core-3", "ssd")])));
  await until("three ready nodes", async () => ((await api.nodes()).body.filter((n) => n.Status === "ready").length === 3 ? true : undefined));
  writeFileSync(join(dir, "global.hcl"), sleeperJob("global", "system", 0, ""));
  writeFileSync(join(dir, "db.hcl"), sleeperJob("db", "service", 1, `constraint {\n    attribute = "\${meta.disk}"\n    value     = "ssd"\n  }`));
  writeFileSync(join(dir, "cache.hcl"), sleeperJob("cache", "service", 1, `constraint {\n    operator = "beside_job"\n    value    = "db"\n  }`));
  writeFileSync(join(dir, "web.hcl"), sleeperJob("web", "service", 2, `constraint {\n    operator = "not_beside_job"\n    value    = "db"\n  }`));
}, 90_000);

afterAll(async () => {
  // Client agents with a data dir leave their tasks running when they stop: stop the jobs first.
  const allocs: string[] = [];
  for (const job of JOBS) {
    allocs.push(...(await api.jobAllocations(job).then((r) => r.body.map((a) => a.ID), () => [])));
    await cli("job", "stop", "-detach", job);
  }
  await until("every task of the walkthrough to end", async () => {
    for (const id of allocs) if ((await processesOf(id)).some(alive)) return undefined;
    return true;
  }, 60_000).catch(async (err: unknown) => {
    for (const id of allocs) for (const pid of await processesOf(id)) process.kill(pid, "SIGKILL");
    throw err;
  });
  for (const c of clients) await c.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("the etcd and fleet walkthrough", () => {
  it("sets and gets keys from the CLI and with curl", async () => {
    expect((await cli("kv", "put", "foo", "Hello world")).code).toBe(0);
    const consul = `http://${server.consulAddress.replace("0.0.0.0", "127.0.0.1")}`;
    expect((await exec("curl", ["-sS", "-X", "PUT", "--data", "Hello world", `${consul}/v1/kv/bar`])).stdout.trim()).toBe("true");
    expect((await cli("kv", "get", "foo")).out).toBe("Hello world\n");
    expect((await cli("kv", "get", "bar")).out).toBe("Hello world\n");
    expect((await exec("curl", ["-sS", `${consul}/v1/kv/foo?raw`])).stdout).toBe("Hello world");

    const watching = rucheRunning(server.address, dir, "kv", "watch", "-once", "foo");
    await until("the watch to print the value it starts from", () => (watching.out() === "Hello world\n" ? true : undefined));
    await until("the watch's blocking query to wait", async () => ((await blockingQueries(server.address, "kv")) === 1 ? true : undefined));
    await exec("curl", ["-sS", "-X", "PUT", "--data", "Bonjour", `${consul}/v1/kv/foo`]);
    expect((await watching.done).out).toBe("Hello world\nBonjour\n");

    const locked = await cli("kv", "lock", "fleet/lock", "/bin/sh", "-c", "echo holding the lock");
    expect(locked).toMatchObject({ code: 0, out: "holding the lock\n" });
  }, 30_000);

  it("runs a system job on every node, and on a node that joins", async () => {
    const r = await cli("job", "run", "-detach", "global.hcl");
    expect(r.code).toBe(0);
    const allocs = await runningAllocs("global", 3);
    expect(new Set(allocs.map((a) => a.NodeID)).size).toBe(3);
    clients.push(await startClient("core-4", "hdd"));
    const four = await runningAllocs("global", 4);
    expect((await Promise.all(four.map((a) => nodeName(a.NodeID)))).sort()).toEqual(["core-1", "core-2", "core-3", "core-4"]);
  }, 90_000);

  it("places by metadata, beside a job, and away from a job", async () => {
    expect((await cli("job", "run", "-detach", "db.hcl")).code).toBe(0);
    const [db] = await runningAllocs("db", 1);
    const dbNode = await nodeName(db?.NodeID ?? "");
    expect(["core-1", "core-3"]).toContain(dbNode);

    expect((await cli("job", "run", "-detach", "cache.hcl")).code).toBe(0);
    const [cache] = await runningAllocs("cache", 1);
    expect(cache?.NodeID).toBe(db?.NodeID);

    expect((await cli("job", "run", "-detach", "web.hcl")).code).toBe(0);
    const web = await runningAllocs("web", 2);
    for (const a of web) expect(a.NodeID).not.toBe(db?.NodeID);
  }, 90_000);

  it("explains a placement it cannot make", async () => {
    writeFileSync(join(dir, "nowhere.hcl"), sleeperJob("nowhere", "service", 1, `constraint {\n    attribute = "\${meta.disk}"\n    value     = "nvme"\n  }`));
    const r = await cli("job", "run", "nowhere.hcl");
    expect(r.code).toBe(2);
    expect(r.out).toContain('Task Group "nowhere" (failed to place 1 allocation):\n      * Constraint `${meta.disk} = nvme` filtered 4 nodes\n');
    await cli("job", "stop", "-purge", "nowhere");
  }, 30_000);
});
