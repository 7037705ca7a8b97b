import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TaskValidateHook } from "./task-validate.js";
import { taskBed } from "./testing.js";

let root = "";
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "ruche-task-validate-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("the validate hook", () => {
  it("refuses a config its driver refuses, naming each problem, and passes a good one", async () => {
    expect(await new TaskValidateHook(taskBed(root, { run_for: "5s" }).ctx).prestart()).toEqual({ ok: true });
    expect(await new TaskValidateHook(taskBed(root, { run_for: 5, exit_code: "1" }).ctx).prestart()).toEqual({
      ok: false,
      event: "Failed Validation",
      reason: 'config.run_for must be a duration such as "5s"; config.exit_code must be a number',
    });
  });
});
