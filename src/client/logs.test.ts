import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { logFiles, logPath, readLogs, rotateIfNeeded } from "./logs.js";

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ruche-logs-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function all(it: AsyncIterable<Buffer>): Promise<string> {
  let s = "";
  for await (const c of it) s += c.toString();
  return s;
}

describe("task logs", () => {
  it("rotates copy-truncate style, keeping max_files files, and reads them oldest first", async () => {
    const cur = logPath(dir, "web", "stdout");
    for (const part of ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n"]) {
      await appendFile(cur, part);
      await rotateIfNeeded(dir, "web", "stdout", 4, 3);
    }
    await appendFile(cur, "eeee\n");
    expect((await logFiles(dir, "web", "stdout")).map((f) => f.slice(dir.length + 1))).toEqual(["web.stdout.2", "web.stdout.1", "web.stdout.0"]);
    expect(await readFile(cur, "utf8")).toBe("eeee\n");
    const ac = new AbortController();
    expect(await all(readLogs(dir, "web", "stdout", { follow: false, signal: ac.signal }))).toBe("cccc\ndddd\neeee\n");
    expect(await all(readLogs(dir, "web", "stdout", { follow: false, tailBytes: 7, signal: ac.signal }))).toBe("d\neeee\n");
  });

  it("follows what the task writes next, across a rotation", async () => {
    const cur = logPath(dir, "web", "stderr");
    await writeFile(cur, "one\n");
    const ac = new AbortController();
    const got: string[] = [];
    const reading = (async () => {
      for await (const c of readLogs(dir, "web", "stderr", { follow: true, signal: ac.signal, pollMs: 10 })) {
        got.push(c.toString());
        if (got.join("").includes("three")) ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(cur, "two\n");
    await new Promise((r) => setTimeout(r, 50));
    await rotateIfNeeded(dir, "web", "stderr", 1, 2);
    await appendFile(cur, "three\n");
    await reading;
    expect(got.join("")).toBe("one\ntwo\nthree\n");
  });

  it("reads nothing for a task that wrote nothing", async () => {
    expect(await all(readLogs(dir, "none", "stdout", { follow: false, signal: new AbortController().signal }))).toBe("");
  });
});
