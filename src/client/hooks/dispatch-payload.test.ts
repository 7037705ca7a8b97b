import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DispatchPayloadHook } from "./dispatch-payload.js";
import { taskBed, tempDirPerTest } from "./testing.js";

const root = tempDirPerTest("ruche-dispatch-payload-");
const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("the dispatch-payload hook", () => {
  it("writes a dispatched job's payload to local/<file>, making the directories on the way", async () => {
    const { ctx } = taskBed(root());
    ctx.task.DispatchPayload = { File: "input/data.json" };
    expect(await new DispatchPayloadHook(ctx, b64('{"n":1}')).prestart()).toEqual({ ok: true });
    expect(await readFile(join(ctx.spec.taskDir, "local", "input", "data.json"), "utf8")).toBe('{"n":1}');
  });

  it("writes an empty file for a dispatch without a payload, and nothing for a job that is no dispatch", async () => {
    const { ctx } = taskBed(root());
    ctx.task.DispatchPayload = { File: "in.txt" };
    await new DispatchPayloadHook(ctx, undefined).prestart();
    await expect(stat(join(ctx.spec.taskDir, "local", "in.txt"))).rejects.toThrow(/ENOENT/);
    await new DispatchPayloadHook(ctx, "").prestart();
    expect((await stat(join(ctx.spec.taskDir, "local", "in.txt"))).size).toBe(0);
  });

  it("refuses a file outside the task's local/ (a job stored before validation said so)", async () => {
    const { ctx } = taskBed(root());
    ctx.task.DispatchPayload = { File: "../../x" };
    expect(await new DispatchPayloadHook(ctx, b64("x")).prestart()).toEqual({ ok: false, event: "Setup Failure", reason: 'dispatch_payload: file "../../x" is not under the task\'s local/' });
  });
});
