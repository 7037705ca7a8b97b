import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AllocDirHook, allocPaths, taskPaths } from "./alloc-dir.js";
import { tempDirPerTest } from "./testing.js";

const root = tempDirPerTest("ruche-alloc-dir-");

const isDir = async (p: string): Promise<boolean> => (await stat(p).catch(() => null))?.isDirectory() ?? false;

describe("the alloc-dir hook", () => {
  it("makes the shared directories before the tasks run, and removes everything on destroy", async () => {
    const paths = allocPaths(root(), "a1");
    expect(paths).toEqual({ dir: join(root(), "a1"), shared: join(root(), "a1", "alloc"), logs: join(root(), "a1", "alloc", "logs"), data: join(root(), "a1", "alloc", "data"), tmp: join(root(), "a1", "alloc", "tmp") });
    expect(taskPaths(paths.dir, "web")).toEqual({ dir: join(root(), "a1", "web"), local: join(root(), "a1", "web", "local"), secrets: join(root(), "a1", "web", "secrets"), tmp: join(root(), "a1", "web", "tmp") });
    const hook = new AllocDirHook(paths);
    await hook.prerun();
    for (const d of [paths.logs, paths.data, paths.tmp]) expect(await isDir(d), d).toBe(true);
    // Found again after an agent restart: making it again keeps what is there.
    await writeFile(join(paths.data, "kept"), "x");
    await hook.prerun();
    expect((await stat(join(paths.data, "kept"))).size).toBe(1);
    await hook.destroy();
    expect(await isDir(paths.dir)).toBe(false);
    expect(await isDir(root())).toBe(true);
  });
});
