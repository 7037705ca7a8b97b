import { describe, expect, it } from "vitest";
import { mock } from "../../structs/index.js";
import { allocDetail } from "./alloc.js";

describe("alloc status of an allocation with lifecycle tasks", () => {
  it("names each task's hook beside it, as Nomad's: (prestart), (prestart sidecar); a main task has none", () => {
    const j = mock.job();
    const g = j.TaskGroups[0]!;
    const main = g.Tasks[0]!;
    g.Tasks = [
      { ...main, Name: "init", Lifecycle: { Hook: "prestart", Sidecar: false } },
      { ...main, Name: "proxy", Lifecycle: { Hook: "prestart", Sidecar: true } },
      main,
      { ...main, Name: "after", Lifecycle: { Hook: "poststop", Sidecar: false } },
    ];
    const text = allocDetail(mock.alloc(j, mock.node(), 0, { ClientStatus: "running", CreateTime: 0, ModifyTime: 0 }), 5_000);
    expect(text).toContain('Task "init" (prestart) is "running"');
    expect(text).toContain('Task "proxy" (prestart sidecar) is "running"');
    expect(text).toContain('Task "web" is "running"');
    expect(text).toContain('Task "after" (poststop) is "running"');
  });
});
