/** The task spec the client hands a driver: the allocation's memory_max (oversubscription) reaches it, and only when set. */
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { mock, type Task } from "../structs/index.js";
import { allocPaths } from "./hooks/alloc-dir.js";
import { taskSpec } from "./task-spec.js";

describe("taskSpec", () => {
  it("passes the allocation's MemoryMaxMB as memoryMaxMB beside memoryMB, and leaves it out when absent", () => {
    const job = mock.job();
    const node = mock.node();
    const plain = mock.alloc(job, node, 0);
    const group = plain.Job.TaskGroups[0];
    const task: Task | undefined = group?.Tasks[0];
    if (group === undefined || task === undefined) throw new Error("mock.job() has a group with a task");
    const paths = allocPaths(tmpdir(), plain.ID);
    const res = { CPU: 500, MemoryMB: 256, DiskMB: 0, Networks: [] };

    expect(taskSpec(plain, group, task, node, paths)).not.toHaveProperty("memoryMaxMB");
    const sized = { ...plain, TaskResources: { [task.Name]: res } };
    expect(taskSpec(sized, group, task, node, paths)).not.toHaveProperty("memoryMaxMB");
    for (const max of [1024, -1]) {
      const over = { ...plain, TaskResources: { [task.Name]: { ...res, MemoryMaxMB: max } } };
      expect(taskSpec(over, group, task, node, paths)).toMatchObject({ memoryMB: 256, memoryMaxMB: max });
    }
  });
});
