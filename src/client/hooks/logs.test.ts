import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { mock } from "../../structs/index.js";
import { logPath } from "../logs.js";
import { LogsHook } from "./logs.js";
import { hookBed, tempDirPerTest, until } from "./testing.js";

const root = tempDirPerTest("ruche-logs-hook-");

const size = async (p: string): Promise<number | undefined> => (await stat(p).catch(() => undefined))?.size;

describe("the logs hook", () => {
  it("rotates a task's output past max_file_size, with the group's current limits, until the runner lets go", async () => {
    const job = mock.job();
    job.TaskGroups[0]!.Tasks[0]!.LogConfig = { MaxFiles: 2, MaxFileSizeMB: 1 };
    const bed = hookBed(job, root());
    await mkdir(bed.paths.logs, { recursive: true });
    const hook = new LogsHook(bed.ctx, bed.paths.logs, 20);
    await hook.prerun();
    const cur = logPath(bed.paths.logs, "web", "stdout");
    const big = Buffer.alloc(1024 * 1024 + 1, "a");
    await writeFile(cur, big);
    await until("the file rotated", async () => (await size(cur)) === 0 && (await size(logPath(bed.paths.logs, "web", "stdout", 1))) === big.length);
    // stderr under its limit stays as it is.
    await writeFile(logPath(bed.paths.logs, "web", "stderr"), "short\n");
    // Updated in place to keep three files: the next rotation shifts .1 to .2 instead of dropping it.
    const updated = structuredClone(job);
    updated.TaskGroups[0]!.Tasks[0]!.LogConfig = { MaxFiles: 3, MaxFileSizeMB: 1 };
    bed.setAlloc({ ...bed.ctx.alloc(), Job: updated });
    await writeFile(cur, Buffer.alloc(1024 * 1024 + 2, "b"));
    await until("the second rotation kept .2", async () => (await size(logPath(bed.paths.logs, "web", "stdout", 2))) === big.length);
    expect(await readFile(logPath(bed.paths.logs, "web", "stderr"), "utf8")).toBe("short\n");
    hook.shutdown();
  });
});
