/**
 * The log writer of shim-run tasks (a sh script), run as the drivers run it, fed through its
 * pipe by the test: what a task writes is in its file at once, files rotate at their size
 * limit as the bytes arrive, never more than max_files of them, nothing lost or reordered,
 * and the writer ends when its input is closed.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startLogWriters, writersDone, type LogWriters } from "./log-writer.js";
import { until } from "./testing.js";

let dir = "";
let logs = "";
let state = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-log-writer-"));
  logs = join(dir, "alloc", "logs");
  state = join(dir, "state");
  mkdirSync(state);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function start(maxFiles: number, maxFileBytes: number): Promise<LogWriters> {
  return startLogWriters(state, { stdoutPath: join(logs, "web.stdout.0"), stderrPath: join(logs, "web.stderr.0"), logLimits: { maxFiles, maxFileBytes } });
}

const names = (prefix: string): string[] => readdirSync(logs).filter((f) => f.startsWith(prefix)).sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
const bytes = (prefix: string): number => names(prefix).reduce((sum, f) => sum + statSync(join(logs, f)).size, 0);
const text = (prefix: string): string => names(prefix).map((f) => readFileSync(join(logs, f), "utf8")).join("");

function write(w: Writable, s: string): Promise<void> {
  return new Promise((resolve, reject) => {
    w.write(s, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}

async function end(w: LogWriters): Promise<void> {
  w.stdout.stdin.end();
  w.stderr.stdin.end();
  await writersDone(w, 10_000);
  expect(w.stdout.exitCode).toBe(0);
  expect(w.stderr.exitCode).toBe(0);
}

describe("the log writer", () => {
  it("writes each line as it comes, before its input is closed", async () => {
    const w = await start(2, 1024 * 1024);
    await write(w.stdout.stdin, "ready\n");
    await until("the line in the file", () => text("web.stdout.") === "ready\n");
    await write(w.stderr.stdin, "oops\n");
    await until("the line in stderr's file", () => text("web.stderr.") === "oops\n");
    await end(w);
  });

  it("rotates as the bytes arrive: never more than max_files × max_file_size, the newest bytes kept in order", async () => {
    const w = await start(3, 1000);
    let all = "";
    let peak = 0;
    for (let i = 0; i < 100; i++) {
      const chunk = `${String(i).padStart(4, "0")}:${"x".repeat((i * 53) % 2500)}\n`;
      await write(w.stdout.stdin, chunk);
      all += chunk;
      peak = Math.max(peak, bytes("web.stdout."));
    }
    await end(w);
    expect(peak).toBeLessThanOrEqual(3000);
    const newest = Math.floor((all.length - 1) / 1000);
    expect(names("web.stdout.")).toEqual([`web.stdout.${newest - 2}`, `web.stdout.${newest - 1}`, `web.stdout.${newest}`]);
    expect(text("web.stdout.")).toBe(all.slice((newest - 2) * 1000));
    expect(text("web.stderr.")).toBe("");
  });

  it("a writer started again (a restarted task) appends to the newest file", async () => {
    const first = await start(2, 10);
    await write(first.stdout.stdin, "0123456789abc");
    await end(first);
    const again = await start(2, 10);
    await write(again.stdout.stdin, "defghijklmnop");
    await end(again);
    expect(names("web.stdout.")).toEqual(["web.stdout.1", "web.stdout.2"]);
    expect(text("web.stdout.")).toBe("abcdefghijklmnop");
  });
});
