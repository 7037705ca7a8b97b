import { describe, expect, it } from "vitest";
import * as mock from "./mock.js";
import { fromWireAlloc, fromWireDeployment, fromWireEval, fromWireNode, GO_ZERO_TIME, toWireAlloc, toWireDeployment, toWireEval, toWireNode } from "./nomad-wire.js";
import type { Deployment } from "./deployment.js";

const T = Date.UTC(2026, 11, 7, 3, 4, 5, 678);

describe("Nomad's time types on the wire", () => {
  it("serves an allocation's time.Time fields as RFC 3339 (Go's zero time for one not yet come) and its int64 times in ns, and reads them back", () => {
    const job = mock.job();
    const a = mock.alloc(job, mock.node(), 0, {
      CreateTime: T,
      ModifyTime: T + 1,
      TaskStates: { web: { State: "running", Failed: false, Restarts: 0, StartedAt: T, FinishedAt: 0, Events: [{ Type: "Started", Time: T * 1e6, Message: "Task started by client", Details: {}, ExitCode: 0, Signal: 0, KillTimeout: 0, RestartReason: "" }] } },
      DeploymentStatus: { Healthy: true, Timestamp: T, Canary: false, ModifyIndex: 3 },
      RescheduleTracker: { Events: [{ RescheduleTime: T, PrevAllocID: "p", PrevNodeID: "n", Delay: 0 }] },
      AllocStates: [{ Field: "ClientStatus", Value: "unknown", Time: T }],
    });
    const w = toWireAlloc(a);
    expect(w.TaskStates.web).toMatchObject({ StartedAt: "2026-12-07T03:04:05.678Z", FinishedAt: GO_ZERO_TIME, LastRestart: GO_ZERO_TIME });
    expect(w.TaskStates.web?.Events[0]).toMatchObject({ Time: T * 1e6, DisplayMessage: "Task started by client" });
    expect(w.DeploymentStatus?.Timestamp).toBe("2026-12-07T03:04:05.678Z");
    expect(w.CreateTime).toBe(T * 1e6);
    expect(w.RescheduleTracker?.Events[0]?.RescheduleTime).toBe(T * 1e6);
    expect(w.AllocStates?.[0]?.Time).toBe("2026-12-07T03:04:05.678Z");
    // Through JSON, as the API sends it: the nanoseconds are written whole.
    const sent = JSON.stringify(w);
    expect(sent).toContain(`"CreateTime":${String(T)}000000`);
    expect(fromWireAlloc(JSON.parse(sent) as typeof w)).toEqual(a);
  });

  it("serves an evaluation's WaitUntil, a deployment's RequireProgressBy and a drain's deadline as times, and reads them back", () => {
    const e = mock.evaluation(mock.job(), { WaitUntil: 0, CreateTime: T, ModifyTime: T });
    expect(toWireEval(e)).toMatchObject({ WaitUntil: GO_ZERO_TIME, CreateTime: T * 1e6 });
    expect(fromWireEval(toWireEval(e))).toEqual(e);
    const state = { AutoRevert: false, AutoPromote: false, ProgressDeadline: 600e9, RequireProgressBy: T, Promoted: false, PlacedCanaries: [], DesiredCanaries: 0, DesiredTotal: 1, PlacedAllocs: 1, HealthyAllocs: 0, UnhealthyAllocs: 0 };
    const d: Deployment = { ID: "d", Namespace: "default", JobID: "web", JobVersion: 0, JobModifyIndex: 1, JobCreateIndex: 1, TaskGroups: { web: state }, Status: "running", StatusDescription: "", CreateIndex: 1, ModifyIndex: 1 };
    expect(toWireDeployment(d).TaskGroups.web?.RequireProgressBy).toBe("2026-12-07T03:04:05.678Z");
    expect(fromWireDeployment(toWireDeployment(d))).toEqual(d);
    const n = { ...mock.node(), DrainStrategy: { Deadline: 3600e9, IgnoreSystemJobs: false, ForceDeadline: T, StartedAt: T - 1000 } };
    expect(toWireNode(n).DrainStrategy).toMatchObject({ ForceDeadline: "2026-12-07T03:04:05.678Z", StartedAt: "2026-12-07T03:04:04.678Z" });
    expect(fromWireNode(toWireNode(n))).toEqual(n);
  });
});
