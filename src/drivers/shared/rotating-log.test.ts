import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RotatingLog, streamIndexes, streamPrefix } from "./rotating-log.js";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ruche-rotating-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const files = (): string[] => readdirSync(dir).sort((a, b) => Number(a.split(".").at(-1)) - Number(b.split(".").at(-1)));
const total = (): number => readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
const text = (): string => files().map((f) => readFileSync(join(dir, f), "utf8")).join("");

describe("a rotating log", () => {
  it("rotates by size as it writes, never holding more than max_files × max_file_size, and keeps the newest bytes", async () => {
    const log = await RotatingLog.open(join(dir, "web.stdout.0"), { maxFiles: 3, maxFileBytes: 1000 });
    let all = "";
    for (let i = 0; i < 200; i++) {
      // Writes of every size, some larger than a whole file.
      const chunk = `${String(i).padStart(4, "0")}:${"x".repeat((i * 37) % 1500)}\n`;
      await log.write(chunk);
      all += chunk;
      expect(total()).toBeLessThanOrEqual(3000);
      expect(readdirSync(dir).length).toBeLessThanOrEqual(3);
    }
    await log.close();
    const names = files();
    // Nomad's names: the newest is the highest index; every older file is full.
    const newest = Math.floor((all.length - 1) / 1000);
    expect(names).toEqual([`web.stdout.${newest - 2}`, `web.stdout.${newest - 1}`, `web.stdout.${newest}`]);
    expect(statSync(join(dir, names[0] ?? "")).size).toBe(1000);
    expect(text()).toBe(all.slice((newest - 2) * 1000));
  });

  it("appends to the newest file already there, and drops those beyond max_files when it opens", async () => {
    for (const n of [0, 1, 2, 3]) writeFileSync(join(dir, `web.stderr.${n}`), n === 3 ? "abc" : "z".repeat(10));
    writeFileSync(join(dir, "web.stderr.x"), "not a log");
    const log = await RotatingLog.open(join(dir, "web.stderr.0"), { maxFiles: 2, maxFileBytes: 10 });
    expect(await streamIndexes(streamPrefix(join(dir, "web.stderr.0")))).toEqual([2, 3]);
    await log.write("defghijklm");
    await log.close();
    expect(readFileSync(join(dir, "web.stderr.3"), "utf8")).toBe("abcdefghij");
    expect(readFileSync(join(dir, "web.stderr.4"), "utf8")).toBe("klm");
    expect(readdirSync(dir).sort()).toEqual(["web.stderr.3", "web.stderr.4", "web.stderr.x"]);
  });

  it("takes only a stream's first file, the one ending in .0", () => {
    expect(streamPrefix("/a/web.stdout.0")).toBe("/a/web.stdout");
    expect(() => streamPrefix("/a/web.stdout")).toThrow('a task\'s first output file ends in ".0"');
  });
});
