import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { logFiles, logPath, readLogs } from "./logs.js";

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

/** Resolves once `cond` holds, polling; fails after 5 s saying what it waited for. */
async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("task logs", () => {
  it("reads a stream's files by index, oldest first (Nomad's names: the newest is the highest)", async () => {
    // What the writer leaves once it dropped .0 and .1 for max_files = 3.
    await writeFile(logPath(dir, "web", "stdout", 2), "cccc\n");
    await writeFile(logPath(dir, "web", "stdout", 10), "eeee\n");
    await writeFile(logPath(dir, "web", "stdout", 9), "dddd\n");
    await writeFile(join(dir, "web.stdout.x"), "not a log\n");
    expect((await logFiles(dir, "web", "stdout")).map((f) => f.slice(dir.length + 1))).toEqual(["web.stdout.2", "web.stdout.9", "web.stdout.10"]);
    const ac = new AbortController();
    expect(await all(readLogs(dir, "web", "stdout", { follow: false, signal: ac.signal }))).toBe("cccc\ndddd\neeee\n");
    expect(await all(readLogs(dir, "web", "stdout", { follow: false, tailBytes: 7, signal: ac.signal }))).toBe("d\neeee\n");
  });

  it("follows what the task writes next, across rotations, including what was written just before one", async () => {
    await writeFile(logPath(dir, "web", "stderr", 0), "one\n");
    const ac = new AbortController();
    let got = "";
    const reading = (async () => {
      for await (const c of readLogs(dir, "web", "stderr", { follow: true, signal: ac.signal, pollMs: 10 })) {
        got += c.toString();
        if (got.includes("four")) ac.abort();
      }
    })();
    await until("the first line", () => got === "one\n");
    // The writer finishes .0 and begins .1 at once: the follower must still read "two" from .0.
    await appendFile(logPath(dir, "web", "stderr", 0), "two\n");
    await writeFile(logPath(dir, "web", "stderr", 1), "three\n");
    await until("the third line", () => got.includes("three"));
    await appendFile(logPath(dir, "web", "stderr", 1), "four\n");
    await reading;
    expect(got).toBe("one\ntwo\nthree\nfour\n");
  });

  it("skips a file removed before the follower got to it", async () => {
    await writeFile(logPath(dir, "web", "stdout", 0), "old\n");
    const ac = new AbortController();
    let got = "";
    const reading = (async () => {
      for await (const c of readLogs(dir, "web", "stdout", { follow: true, signal: ac.signal, pollMs: 10 })) {
        got += c.toString();
        if (got.includes("new")) ac.abort();
      }
    })();
    await until("the first line", () => got === "old\n");
    await writeFile(logPath(dir, "web", "stdout", 2), "new\n");
    await rm(logPath(dir, "web", "stdout", 0));
    await reading;
    expect(got).toBe("old\nnew\n");
  });

  it("reads nothing for a task that wrote nothing", async () => {
    expect(await all(readLogs(dir, "none", "stdout", { follow: false, signal: new AbortController().signal }))).toBe("");
  });
});
