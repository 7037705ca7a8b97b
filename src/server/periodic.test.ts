import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, mock, RucheError, type Job, type Logger, type PeriodicConfig } from "../structs/index.js";
import type { StateStore } from "../state/index.js";
import type { Server } from "./server.js";
import { serverOnMemory, until } from "./testing.js";

const running: Server[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

/** A logger that keeps the messages, to observe what the dispatcher decided. */
function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (_: Record<string, unknown>, msg: string): void => {
    lines.push(msg);
  };
  return { lines, debug: keep, info: keep, warn: keep, error: keep };
}

async function start(log: Logger = recorder()): Promise<{ store: StateStore; server: Server }> {
  const r = await serverOnMemory({ log });
  running.push(r.server);
  return r;
}

function periodicJob(id: string, p: Partial<PeriodicConfig>, type: Job["Type"] = "batch"): Job {
  const j = mock.job({ id });
  return { ...j, Type: type, TaskGroups: j.TaskGroups.map((g) => ({ ...g, Update: null, Migrate: null })), Periodic: { Enabled: true, Spec: "", Specs: [], SpecType: "cron", ProhibitOverlap: false, TimeZone: "UTC", ...p } };
}

const children = (store: StateStore, parent: string): Job[] => store.jobs().filter((j) => j.ParentID === parent);

describe("the periodic dispatcher", () => {
  it("registering a periodic job makes no evaluation; the leader launches children on schedule, each with its periodic-job evaluation", async () => {
    const { store, server } = await start();
    const reg = await server.registerJob(periodicJob("tick", { Spec: "* * * * * * *" }));
    expect(reg.EvalID).toBe("");
    expect(store.evalsByJob("default", "tick")).toEqual([]);
    expect(store.periodicLaunch("default", "tick")).toBeDefined(); // the registration, until the first launch

    const kids = await until("two children", () => {
      const c = children(store, "tick");
      return c.length >= 2 && c;
    });
    for (const c of kids) {
      expect(c.ID).toMatch(/^tick\/periodic-\d+$/);
      expect(c).toMatchObject({ Name: c.ID, ParentID: "tick", Periodic: null, Type: "batch" });
      // Its first evaluation; with no nodes, a blocked one for its queued allocations follows.
      expect([...store.evalsByJob("default", c.ID)].sort((a, b) => a.CreateIndex - b.CreateIndex)[0]?.TriggeredBy).toBe("periodic-job");
    }
    expect(store.evalsByJob("default", "tick")).toEqual([]);
    expect(store.allocsByJob("default", "tick")).toEqual([]);
    const newest = Math.max(...kids.map((c) => Number(c.ID.split("-").at(-1)) * 1000));
    await until("the launch recorded", () => (store.periodicLaunch("default", "tick")?.Launch ?? 0) >= newest);
  });

  it("stopping the parent stops its launches; a disabled one is never tracked", async () => {
    const { store, server } = await start();
    await server.registerJob(periodicJob("stopme", { Spec: "* * * * * * *" }));
    await server.registerJob(periodicJob("off", { Spec: "* * * * * * *", Enabled: false }));
    expect(server.nextPeriodicLaunch("default", "stopme")).not.toBeNull();
    expect(server.nextPeriodicLaunch("default", "off")).toBeNull();
    await until("a child", () => children(store, "stopme").length >= 1);
    await server.stopJob("default", "stopme");
    expect(server.nextPeriodicLaunch("default", "stopme")).toBeNull();
    await server.periodic.settled();
    const after = children(store, "stopme").length;
    await expect(server.forcePeriodic("default", "stopme")).rejects.toThrow(/it is stopped/);
    await expect(server.forcePeriodic("default", "off")).rejects.toThrow(/disabled/);
    expect(children(store, "stopme")).toHaveLength(after);
    expect(children(store, "off")).toEqual([]);
  });

  it("a new version takes its new schedule", async () => {
    const { server } = await start();
    await server.registerJob(periodicJob("daily", { Spec: "0 0 0 * * * *" }));
    const daily = server.nextPeriodicLaunch("default", "daily");
    expect(daily !== null && new Date(daily).getUTCHours()).toBe(0);
    await server.registerJob(periodicJob("daily", { Spec: "0 30 12 * * * *" }));
    const noon = server.nextPeriodicLaunch("default", "daily");
    expect(noon !== null && [new Date(noon).getUTCHours(), new Date(noon).getUTCMinutes()]).toEqual([12, 30]);
  });

  it("force launches a child now; a job that is not periodic is refused", async () => {
    const { store, server } = await start();
    await server.registerJob(periodicJob("yearly", { Spec: "@yearly" }));
    const r = await server.forcePeriodic("default", "yearly");
    expect(r.EvalID).not.toBe("");
    const kids = children(store, "yearly");
    expect(kids).toHaveLength(1);
    expect(store.evalsByJob("default", kids[0]!.ID).map((e) => e.ID)).toEqual([r.EvalID]);
    await server.registerJob({ ...mock.job({ id: "plain" }) });
    await expect(server.forcePeriodic("default", "plain")).rejects.toThrow(/can't force launch non-periodic job/);
    await expect(server.forcePeriodic("default", "nope")).rejects.toSatisfy((e: unknown) => e instanceof RucheError && e.code === ErrorCode.JobNotFound);
  });

  it("prohibit_overlap: no launch while a previous child has not finished (here its evaluation is blocked: no nodes)", async () => {
    const log = recorder();
    const { store, server } = await start(log);
    await server.registerJob(periodicJob("lonely", { Spec: "* * * * * * *", ProhibitOverlap: true }));
    const [first] = await until("a child", () => children(store, "lonely").length === 1 && children(store, "lonely"));
    await until("its evaluation blocked", () => store.evalsByJob("default", first!.ID).some((e) => e.Status === "blocked"));
    const seen = log.lines.length;
    await until("a launch skipped", () => log.lines.slice(seen).some((l) => l.startsWith("skipping a periodic launch")));
    await server.periodic.settled();
    expect(children(store, "lonely").map((c) => c.ID)).toEqual([first!.ID]);
  });

  it("garbage collection takes a child once its evaluations and allocations are gone, and keeps the parent", async () => {
    const { store, server } = await start();
    await server.registerJob(periodicJob("gcme", { Spec: "@yearly" }));
    await server.forcePeriodic("default", "gcme");
    const [child] = children(store, "gcme");
    await until("the child's evaluation done", () => store.evalsByJob("default", child!.ID).length > 0);
    await server.stop(); // no worker takes it up meanwhile
    expect((await server.gc({ eval: 0, alloc: 0, deployment: 0 })).jobs).toBe(0); // its evaluation is not done
    await store.write((tx) => {
      for (const e of store.evalsByJob("default", child!.ID)) tx.put("evals", { ...e, Status: "complete", ModifyTime: 0 });
    });
    const r = await server.gc({ eval: 0, alloc: 0, deployment: 0 });
    expect(r.jobs).toBe(1);
    expect(store.job("default", child!.ID)).toBeNull();
    expect(store.jobVersions("default", child!.ID)).toEqual([]);
    expect(store.job("default", "gcme")).not.toBeNull();
  });

  it("a new leader launches a missed time once (not the backlog) and never a time twice", async () => {
    const { store, server } = await start();
    await server.stop();
    const hourly = periodicJob("hourly", { Spec: "@hourly" });
    await server.registerJob(hourly);
    // The leader was away for three hours since the last launch.
    const threeHoursAgo = Math.floor(Date.now() / 3600_000) * 3600_000 - 3 * 3600_000;
    await store.write((tx) => {
      tx.put("periodicLaunches", { ID: "hourly", Namespace: "default", Launch: threeHoursAgo, CreateIndex: 0, ModifyIndex: 0 });
    });
    server.start();
    await server.periodic.settled();
    const kids = children(store, "hourly");
    expect(kids).toHaveLength(1);
    expect(store.periodicLaunch("default", "hourly")?.Launch).toBe(Number(kids[0]!.ID.split("-").at(-1)) * 1000);
    // Leading again at once: the last launch is recent, nothing is due.
    await server.stop();
    server.start();
    await server.periodic.settled();
    expect(children(store, "hourly")).toHaveLength(1);
  });
});
