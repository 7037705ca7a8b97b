/**
 * The node agent's own logic against a real server in this process: task events, the
 * restart policy, leaders, deployment health, stopping, and finding tasks again after
 * an agent restart. Tasks run on the mock driver here (the client's logic is what is
 * under test); the real drivers run real tasks in their contract test and end to end.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { inProcessTransport } from "../agent/in-process.js";
import { MockDriver } from "../drivers/mock/mock-driver.js";
import type { ServerOptions } from "../server/index.js";
import { serverOnMemory, until } from "../server/testing.js";
import type { StateStore } from "../state/index.js";
import { mock, NS, type Allocation, type Job } from "../structs/index.js";
import { Client } from "./client.js";
import { testClientConfig } from "./testing.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(serverOpts: ServerOptions = {}) {
  const { store, server } = await serverOnMemory(serverOpts);
  const dataDir = await mkdtemp(join(tmpdir(), "ruche-client-"));
  const driver = new MockDriver();
  const transport = inProcessTransport(server);
  const clients: Client[] = [];
  const newClient = async (): Promise<Client> => {
    const c = new Client(transport, testClientConfig(dataDir, [driver]));
    await c.start();
    clients.push(c);
    return c;
  };
  const client = await newClient();
  cleanup.push(async () => {
    for (const c of clients) await c.stop({ stopTasks: true });
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { store, server, client, driver, newClient };
}

function job(config: Record<string, unknown>, o: Parameters<typeof mock.job>[0] = {}): Job {
  const j = mock.job({ id: "app", count: 1, cpu: 100, memory: 64, ...o });
  const g = j.TaskGroups[0]!;
  g.Tasks[0]!.Config = config;
  g.Tasks[0]!.KillTimeout = 200 * NS.millisecond;
  g.RestartPolicy = { Attempts: 2, Interval: 60 * NS.second, Delay: 50 * NS.millisecond, Mode: "fail" };
  g.ReschedulePolicy = null;
  return j;
}

const allocs = (store: StateStore, id = "app"): readonly Allocation[] => store.allocsByJob("default", id);
const events = (a: Allocation, task = "web"): string[] => a.TaskStates[task]?.Events.map((e) => e.Type) ?? [];

describe("the node agent", () => {
  it("registers with a fingerprint of the machine and its drivers", async () => {
    const { store, client } = await setup();
    const n = await until("the node", () => store.node(client.nodeId));
    expect(n).toMatchObject({ Name: "n1", Status: "ready", Datacenter: "dc1" });
    expect(n.Resources.CPU).toBeGreaterThan(0);
    expect(n.Resources.MemoryMB).toBeGreaterThan(0);
    expect(n.Attributes["kernel.name"]).toBe("linux");
    expect(n.Attributes["driver.mock"]).toBe("1");
    expect(n.Drivers.mock).toMatchObject({ Detected: true, Healthy: true });
  });

  it("registers again when the servers no longer know its node", async () => {
    const { store, client } = await setup({ heartbeat: { minTTL: 200 } });
    const first = await until("the node", () => store.node(client.nodeId));
    // The servers lose the node (its row is gone, as after a purge): the next heartbeat is
    // refused as RUCHE_NODE_NOT_REGISTERED, and the agent registers the node anew.
    await store.write((tx) => {
      tx.delete("nodes", client.nodeId);
    });
    expect(store.node(client.nodeId)).toBeUndefined();
    const again = await until("the node registered again", () => store.node(client.nodeId));
    expect(again.CreateIndex).toBeGreaterThan(first.CreateIndex);
    expect(again).toMatchObject({ Name: "n1", Status: "ready" });
  });

  it("runs an allocation and reports its task events", async () => {
    const { store, server } = await setup();
    await server.registerJob(job({}));
    const a = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    expect(events(a)).toEqual(["Received", "Task Setup", "Started"]);
    expect(a.TaskStates.web).toMatchObject({ State: "running", Restarts: 0, Failed: false });
  });

  it("restarts a failing task per the restart policy, then fails the allocation", async () => {
    const { store, server } = await setup();
    await server.registerJob(job({ run_for: "30ms", exit_code: 3 }));
    const a = await until("failed", () => allocs(store).find((x) => x.ClientStatus === "failed"));
    const t = a.TaskStates.web!;
    expect(t).toMatchObject({ State: "dead", Failed: true, Restarts: 2 });
    expect(events(a).filter((e) => e === "Restarting")).toHaveLength(2);
    expect(t.Events.find((e) => e.Type === "Not Restarting")?.Message).toBe('Exceeded allowed attempts 2 in interval 1m0s and mode is "fail"');
    expect(t.Events.find((e) => e.Type === "Terminated")).toMatchObject({ ExitCode: 3, Message: "Exit Code: 3" });
  });

  it("replaces a failed allocation after its reschedule delay: the delayed evaluation reaches the broker through the change feed", async () => {
    const { store, server } = await setup();
    const j = job({ run_for: "30ms", exit_code: 1 });
    const g = j.TaskGroups[0]!;
    g.RestartPolicy = { Attempts: 0, Interval: 60 * NS.second, Delay: 50 * NS.millisecond, Mode: "fail" };
    // Over a second: a reschedule due within one second is made at once (Nomad's reschedule window), without a follow-up.
    g.ReschedulePolicy = { Attempts: 1, Interval: 3600 * NS.second, Delay: 1500 * NS.millisecond, DelayFunction: "constant", MaxDelay: 3600 * NS.second, Unlimited: false };
    await server.registerJob(j);
    const failed = await until("the first allocation failed", () => allocs(store).find((x) => x.ClientStatus === "failed"));
    // The worker leaves a follow-up evaluation that waits for the delay; nothing but the
    // store's change feed tells the broker about it.
    const followUp = await until("the delayed follow-up evaluation", () => store.evals().find((e) => e.TriggeredBy === "alloc-failure" && e.WaitUntil > 0));
    const replacement = await until("the replacement", () => allocs(store).find((x) => x.PreviousAllocation === failed.ID), 10_000);
    expect(replacement.CreateTime).toBeGreaterThanOrEqual(followUp.WaitUntil);
    expect(replacement.RescheduleTracker?.Events).toHaveLength(1);
    expect(await until("the follow-up done", () => store.evals().find((e) => e.ID === followUp.ID && e.Status === "complete"))).toBeDefined();
  });

  it("completes a batch allocation whose task exits 0", async () => {
    const { store, server } = await setup();
    await server.registerJob(job({ run_for: "20ms" }, { type: "batch" }));
    const a = await until("complete", () => allocs(store).find((x) => x.ClientStatus === "complete"));
    expect(a.TaskStates.web).toMatchObject({ State: "dead", Failed: false, Restarts: 0 });
  });

  it("stops the other tasks when the leader dies", async () => {
    const { store, server } = await setup();
    const j = job({ run_for: "50ms" }, { type: "batch" });
    const g = j.TaskGroups[0]!;
    g.Tasks[0]!.Leader = true;
    g.Tasks.push({ ...g.Tasks[0]!, Name: "sidecar", Leader: false, Config: {} });
    await server.registerJob(j);
    const a = await until("complete", () => allocs(store).find((x) => x.ClientStatus === "complete"));
    expect(events(a, "sidecar")).toContain("Leader Task Dead");
    expect(a.TaskStates.sidecar).toMatchObject({ State: "dead", Failed: false });
  });

  it("stops a task the server no longer wants, with its kill signal", async () => {
    const { store, server, driver } = await setup();
    await server.registerJob(job({}));
    await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    await server.stopJob("default", "app");
    const a = await until("complete", () => allocs(store).find((x) => x.ClientStatus === "complete"));
    expect(events(a).slice(-3)).toEqual(["Killing", "Terminated", "Killed"]);
    expect(driver.running()).toEqual([]);
  });

  it("reports an allocation of a deployment healthy after min_healthy_time", async () => {
    const { store, server } = await setup();
    const j = job({}, { canary: 0, maxParallel: 1 });
    j.TaskGroups[0]!.Update = { ...j.TaskGroups[0]!.Update!, MinHealthyTime: 300 * NS.millisecond, HealthCheck: "task_states" };
    await server.registerJob(j);
    const running = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    expect(running.DeploymentStatus?.Healthy ?? null).toBeNull();
    const healthy = await until("healthy", () => allocs(store).find((x) => x.DeploymentStatus?.Healthy === true));
    expect(healthy.DeploymentStatus?.Timestamp).toBeGreaterThanOrEqual(running.ModifyTime + 250);
  });

  it("reports an allocation unhealthy when its task fails before it is healthy", async () => {
    const { store, server } = await setup();
    const j = job({ run_for: "30ms", exit_code: 1 }, { canary: 0, maxParallel: 1 });
    j.TaskGroups[0]!.RestartPolicy.Attempts = 0;
    j.TaskGroups[0]!.Update = { ...j.TaskGroups[0]!.Update!, MinHealthyTime: 5 * NS.second, HealthCheck: "task_states" };
    await server.registerJob(j);
    const a = await until("unhealthy", () => allocs(store).find((x) => x.DeploymentStatus?.Healthy === false));
    expect(a.ClientStatus).toBe("failed");
    expect(a.TaskStates.web?.Events.at(-1)).toMatchObject({ Type: "Alloc Unhealthy", Message: "Unhealthy because of failed task" });
  });

  it("with health_check = checks, is healthy once the service's checks pass for min_healthy_time; unhealthy at the deadline when they never do", async () => {
    const { store, server } = await setup();
    // A listener stands in for the task's server on its static port: the tcp check reaches it.
    const listener = createServer((sock) => sock.end());
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const up = (listener.address() as { port: number }).port;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const down = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    cleanup.push(() => new Promise((r) => listener.close(() => { r(); })));
    const withCheck = (id: string, port: number): Job => {
      const j = job({}, { id, canary: 0, maxParallel: 1, staticPorts: { http: port } });
      const g = j.TaskGroups[0]!;
      g.Update = { ...g.Update!, MinHealthyTime: 200 * NS.millisecond, HealthyDeadline: 1500 * NS.millisecond, HealthCheck: "checks" };
      const check = { Name: "alive", Type: "tcp" as const, Command: "", Args: [], Path: "", Method: "", Protocol: "", Header: {}, PortLabel: "", AddressMode: "host" as const, Interval: 100 * NS.millisecond, Timeout: 200 * NS.millisecond, InitialStatus: "", TaskName: "", SuccessBeforePassing: 2, FailuresBeforeCritical: 0, TLSSkipVerify: false };
      g.Tasks[0]!.Services = [{ Name: id, PortLabel: "http", AddressMode: "auto", Tags: [], CanaryTags: [], Meta: {}, TaskName: "", Checks: [check] }];
      return j;
    };
    await server.registerJob(withCheck("good", up));
    await server.registerJob(withCheck("bad", down));
    const good = await until("good healthy", () => allocs(store, "good").find((x) => x.DeploymentStatus?.Healthy === true));
    expect(good.ClientStatus).toBe("running");
    const bad = await until("bad unhealthy", () => allocs(store, "bad").find((x) => x.DeploymentStatus?.Healthy === false));
    expect(bad.ClientStatus).toBe("running");
    expect(bad.TaskStates.web?.Events.at(-1)).toMatchObject({ Type: "Alloc Unhealthy", Message: "Services not healthy by healthy_deadline of 1.5s" });
  });

  it("runs the checks of a job updated in place: a changed check starts afresh, a removed one stops", async () => {
    const { store, server } = await setup();
    const listener = createServer((sock) => sock.end());
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const up = (listener.address() as { port: number }).port;
    cleanup.push(() => new Promise((r) => listener.close(() => { r(); })));
    const check = (name: string, portLabel: string) => ({ Name: name, Type: "tcp" as const, Command: "", Args: [], Path: "", Method: "", Protocol: "", Header: {}, PortLabel: portLabel, AddressMode: "host" as const, Interval: 100 * NS.millisecond, Timeout: 200 * NS.millisecond, InitialStatus: "", TaskName: "", SuccessBeforePassing: 0, FailuresBeforeCritical: 0, TLSSkipVerify: false });
    const withChecks = (checks: ReturnType<typeof check>[], tags: string[]): Job => {
      const j = job({}, { id: "checked", staticPorts: { http: up } });
      j.TaskGroups[0]!.Tasks[0]!.Services = [{ Name: "checked", PortLabel: "http", AddressMode: "auto", Tags: tags, CanaryTags: [], Meta: {}, TaskName: "", Checks: checks }];
      return j;
    };
    await server.registerJob(withChecks([check("alive", ""), check("other", "")], ["v1"]));
    const first = await until("both checks passing", () => allocs(store, "checked").find((x) => x.ClientStatus === "running" && x.Checks?.length === 2 && x.Checks.every((c) => c.Status === "passing")));
    // The same service, a tag changed, "alive" now pointed at a port nothing listens on, "other" gone.
    await server.registerJob(withChecks([check("alive", "1")], ["v2"]));
    const after = await until("the new checks reported", () => allocs(store, "checked").find((x) => x.Checks?.length === 1 && x.Checks[0]?.Status === "critical"));
    expect(after.ID).toBe(first.ID);
    expect(after.Checks?.map((c) => c.Name)).toEqual(["alive"]);
  });

  it("finds its running tasks again after an agent restart, without restarting them", async () => {
    const { store, server, client, driver, newClient } = await setup();
    await server.registerJob(job({}));
    const a = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    await client.stop({ stopTasks: false });
    const again = await newClient();
    expect(again.nodeId).toBe(client.nodeId);
    await until("the allocation runner", () => again.runner(a.ID));
    await new Promise((r) => setTimeout(r, 200));
    const now = store.alloc(a.ID)!;
    expect(now.ClientStatus).toBe("running");
    expect(now.TaskStates.web).toMatchObject({ State: "running", Restarts: 0 });
    expect(events(now).filter((e) => e === "Started")).toHaveLength(1);
    expect(driver.running()).toEqual([`${a.ID}/web`]);
  });

  it("stopping, lets go of what its drivers follow once its last report is sent, and leaves the tasks running", async () => {
    const { store, server, client, driver } = await setup();
    await server.registerJob(job({}));
    const a = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    // A driver that holds something open for its tasks (the docker driver's log streams and waits).
    let closedWith: string | undefined;
    Object.assign(driver, {
      close: () => {
        closedWith = store.alloc(a.ID)?.ClientStatus;
        return Promise.resolve();
      },
    });
    await client.stop({ stopTasks: false });
    expect(closedWith).toBe("running");
    expect(driver.running()).toEqual([`${a.ID}/web`]);
    expect(store.alloc(a.ID)?.ClientStatus).toBe("running");
  });

  it("asks a driver that cannot tell again, rather than taking its running task as lost", async () => {
    const { store, server, client, driver, newClient } = await setup();
    await server.registerJob(job({}));
    const a = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    await client.stop({ stopTasks: false });
    driver.recoverFailures = 2;
    const again = await newClient();
    await until("the allocation runner", () => again.runner(a.ID));
    await until("recovered", () => driver.recoverFailures === 0 && store.alloc(a.ID)?.ClientStatus === "running");
    await new Promise((r) => setTimeout(r, 1000));
    const now = store.alloc(a.ID)!;
    expect(now.TaskStates.web).toMatchObject({ State: "running", Restarts: 0 });
    expect(events(now).filter((e) => e === "Started")).toHaveLength(1);
  });

  it("refuses a task whose driver config is wrong, with the reason", async () => {
    const { store, server } = await setup();
    await server.registerJob(job({ run_for: 5 }));
    const a = await until("failed", () => allocs(store).find((x) => x.ClientStatus === "failed"));
    expect(a.TaskStates.web?.Events.find((e) => e.Type === "Failed Validation")?.Message).toBe('config.run_for must be a duration such as "5s"');
  });

  it("an allocation told to stop before it ran here is reported complete: it holds its node's ports until then", async () => {
    const { store, server } = await setup();
    await server.registerJob(job({}));
    const a = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    // Placed here and stopped before this agent heard of it: it never ran here.
    const never = { ...a, ID: "never-ran", Name: "app.web[1]", ClientStatus: "pending" as const, DesiredStatus: "stop" as const, TaskStates: {} };
    await store.write((tx) => {
      tx.put("allocs", never);
    });
    const again = await until("the allocation reported complete", () => allocs(store).find((x) => x.ID === "never-ran" && x.ClientStatus === "complete"));
    expect(again.DesiredStatus).toBe("stop");
  });

  it("an agent that lost an allocation's state still stops and removes its task once the servers stop it", async () => {
    const { store, server, client, driver, newClient } = await setup();
    await server.registerJob(job({}));
    const a = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    await client.stop({ stopTasks: false });
    // The agent's record of it is gone (a kill -9 before it was saved); the task runs on.
    await rm(join(client.stateDir, "allocs", `${a.ID}.json`), { force: true });
    await server.stopJob("default", "app", true);
    expect(driver.running()).toEqual([`${a.ID}/web`]);
    await newClient();
    await until("the task stopped and removed", () => driver.running().length === 0);
    await until("the allocation reported complete", () => allocs(store).find((x) => x.ID === a.ID && x.ClientStatus === "complete"));
  });

  it("starts a replacement on the same node once the allocation it replaces is gone: its ports are free by then", async () => {
    const { store, server } = await setup();
    // Its stop takes 500 ms (a task that lives out its kill timeout).
    await server.registerJob(job({ kill_after: "500ms" }));
    const old = await until("running", () => allocs(store).find((x) => x.ClientStatus === "running"));
    // A new version: a destructive update on this, the only node.
    await server.registerJob(job({ kill_after: "500ms", exit_code: 0 }));
    const next = await until("the replacement running", () => allocs(store).find((x) => x.PreviousAllocation === old.ID && x.ClientStatus === "running"));
    const before = await until("the old one complete", () => allocs(store).find((x) => x.ID === old.ID && x.ClientStatus === "complete"));
    expect(next.TaskStates.web?.StartedAt).toBeGreaterThanOrEqual(before.TaskStates.web?.FinishedAt ?? Infinity);
  });
});
