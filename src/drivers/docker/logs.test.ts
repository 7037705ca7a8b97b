/**
 * A docker task's output against the real engine (scripts/test-deps.sh starts one and builds
 * the test image): every line reaches the task's files, the last one too, and the files
 * rotate by size as the output arrives. When no engine answers, every test fails saying so.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TaskSpec } from "../driver.js";
import { dockerTestBed } from "./testing.js";

const bed = dockerTestBed("ruche-docker-logs");
const driver = (): ReturnType<typeof bed.driver> => bed.driver();

function taskSpec(script: string, logLimits = { maxFiles: 10, maxFileBytes: 10 * 1024 * 1024 }): TaskSpec {
  return bed.spec("chatty", { command: "sh", args: ["-c", script] }, { logLimits });
}

/** A stream's files in index order, concatenated. */
function stream(spec: TaskSpec, name: "stdout" | "stderr"): string {
  const dir = join(spec.allocDir, "alloc", "logs");
  const prefix = `chatty.${name}.`;
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("");
}

describe("a docker task's output", () => {
  it("has every line in its files once the task exited and the client destroyed it, the last line included", async () => {
    const lines = 100_000;
    for (let round = 0; round < 3; round++) {
      const spec = taskSpec(`i=1; while [ $i -le ${lines} ]; do echo "line $i"; i=$((i+1)); done; echo "err last" >&2`);
      const d = driver();
      const h = await d.start(spec);
      expect(await d.wait(h)).toMatchObject({ exitCode: 0 });
      // What the client does next, at once: the container goes, and the follower with it.
      await d.destroy(h);
      const out = stream(spec, "stdout").split("\n");
      expect(out.length - 1, `round ${round}: lines in the log`).toBe(lines);
      expect(out.at(-2)).toBe(`line ${lines}`);
      expect(stream(spec, "stderr")).toBe("err last\n");
    }
  });

  it("rotates by size as the output arrives, never holding more than max_files × max_file_size", async () => {
    const limits = { maxFiles: 2, maxFileBytes: 256 * 1024 };
    // 4 MiB of output, as fast as the container can write it, then a last line.
    const spec = taskSpec("yes 0123456789abcdef0123456789abcdef | head -c 4194304; echo; echo done", limits);
    const logs = join(spec.allocDir, "alloc", "logs");
    const d = driver();
    const h = await d.start(spec);
    const exited = d.wait(h);
    let over = false;
    void exited.then(() => (over = true));
    let peak = 0;
    let samples = 0;
    while (!over) {
      let total = 0;
      for (const f of readdirSync(logs)) {
        try {
          if (f.startsWith("chatty.stdout.")) total += statSync(join(logs, f)).size;
        } catch {
          // Removed between the listing and the stat.
        }
      }
      peak = Math.max(peak, total);
      samples++;
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await exited).toMatchObject({ exitCode: 0 });
    expect(samples).toBeGreaterThan(10);
    expect(peak).toBeGreaterThan(limits.maxFileBytes);
    expect(peak).toBeLessThanOrEqual(limits.maxFiles * limits.maxFileBytes);
    const names = readdirSync(logs).filter((f) => f.startsWith("chatty.stdout."));
    expect(names.length).toBe(2);
    // Rotated: the first file is long gone, and the newest ends with the last line.
    expect(names).not.toContain("chatty.stdout.0");
    expect(stream(spec, "stdout").endsWith("\ndone\n")).toBe(true);
  });
});
