import { describe, expect, it } from "vitest";
import { diffVersions, flatten } from "./diff.js";

describe("the difference between two versions of a job", () => {
  const v0 = {
    ID: "web",
    Version: 0,
    SubmitTime: 1,
    TaskGroups: [{ Name: "webs", Count: 2, Tasks: [{ Name: "frontend", Config: { args: ["a"] }, Resources: { CPU: 200 } }] }],
    Meta: {},
  };

  it("names groups and tasks in the paths of their fields", () => {
    expect(flatten(v0).get("TaskGroups[webs].Tasks[frontend].Resources.CPU")).toBe("200");
    expect(flatten(v0).get("TaskGroups[webs].Tasks[frontend].Config.args[0]")).toBe('"a"');
  });

  it("lists what changed, was added and was removed, and leaves out what every version changes", () => {
    const v1 = {
      ...v0,
      Version: 1,
      SubmitTime: 2,
      TaskGroups: [{ Name: "webs", Count: 3, Tasks: [{ Name: "frontend", Config: { args: ["b"] }, Resources: { CPU: 200 } }] }],
      Meta: { team: "edge" },
    };
    expect(diffVersions(v0, v1)).toEqual([
      { path: "Meta", kind: "removed", before: "{}" },
      { path: "Meta.team", kind: "added", after: '"edge"' },
      { path: "TaskGroups[webs].Count", kind: "changed", before: "2", after: "3" },
      { path: "TaskGroups[webs].Tasks[frontend].Config.args[0]", kind: "changed", before: '"a"', after: '"b"' },
    ]);
    expect(diffVersions(v0, { ...v0, Version: 5, SubmitTime: 9 })).toEqual([]);
  });
});
