import { describe, expect, it } from "vitest";
import { TaskValidateHook } from "./task-validate.js";
import { taskBed, tempDirPerTest } from "./testing.js";

const root = tempDirPerTest("ruche-task-validate-");

describe("the validate hook", () => {
  it("refuses a config its driver refuses, naming each problem, and passes a good one", async () => {
    expect(await new TaskValidateHook(taskBed(root(), { run_for: "5s" }).ctx).prestart()).toEqual({ ok: true });
    expect(await new TaskValidateHook(taskBed(root(), { run_for: 5, exit_code: "1" }).ctx).prestart()).toEqual({
      ok: false,
      event: "Failed Validation",
      reason: 'config.run_for must be a duration such as "5s"; config.exit_code must be a number',
    });
  });
});
