import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../structs/index.js";
import { formatDiagnostic, MAX_JOB_FILE_BYTES, parseJob } from "./index.js";

/**
 * No input crashes the parser or hangs it: every one ends in a job or in diagnostics.
 * (How fast is measured by benchmarks, not here.)
 */
const demo = readFileSync(new URL("../../examples/demoapp.hcl", import.meta.url), "utf8");

async function messages(src: string | Uint8Array, file = "job.hcl"): Promise<string[]> {
  const r = await parseJob(src, { file });
  return r.ok ? [] : r.diagnostics.map(formatDiagnostic);
}

describe("hostile job files", () => {
  it("refuses a 10 MB file before parsing it", async () => {
    const big = new TextEncoder().encode(`job "x" {\n  meta {\n${'    k = "v"\n'.repeat(1_000_000)}  }\n}\n`);
    expect(big.length).toBeGreaterThan(10 * 1024 * 1024);
    expect(await messages(big)).toEqual([`job.hcl: the file is ${(big.length / 1024 / 1024).toFixed(1)} MiB; a job file may be at most ${MAX_JOB_FILE_BYTES / 1024 / 1024} MiB`]);
  });

  it("parses a file just under the limit", async () => {
    // As many meta entries as a block may hold, their values long enough to come near the size limit.
    const lines = LIMITS.maxMetaEntries;
    const value = "v".repeat(Math.floor((MAX_JOB_FILE_BYTES - 2000) / lines) - 20);
    const body = Array.from({ length: lines }, (_, i) => `    k${String(i).padStart(7, "0")} = "${value}"\n`).join("");
    const src = demo.replace("  group \"webs\" {", `  meta {\n${body}  }\n  group "webs" {`);
    expect(Buffer.byteLength(src)).toBeLessThan(MAX_JOB_FILE_BYTES);
    expect(Buffer.byteLength(src)).toBeGreaterThan(MAX_JOB_FILE_BYTES - 4000);
    const r = await parseJob(new TextEncoder().encode(src), { file: "big.hcl" });
    expect(r.ok && Object.keys(r.job.Meta).length).toBe(lines);
  });

  it("refuses 10,000-deep nesting of values, of blocks and of JSON", async () => {
    const deepValue = `job "x" {\n  meta = ${"[".repeat(10_000)}${"]".repeat(10_000)}\n}\n`;
    expect(await messages(deepValue)).toEqual(["job.hcl:2:73: nesting is deeper than 64 levels; a job file never needs that many"]);
    const deepBlocks = `job "x" {\n${"a {\n".repeat(10_000)}${"}\n".repeat(10_000)}}\n`;
    expect((await messages(deepBlocks))[0]).toMatch(/^job\.hcl:\d+:1: nesting is deeper than 64 levels/);
    const deepJson = `{"Job": {"ID": "x", "Meta": ${"[".repeat(10_000)}${"]".repeat(10_000)}}}`;
    expect(await messages(deepJson, "job.json")).toEqual(["job.json: nesting is deeper than 64 levels; a job never needs that many"]);
    const deepParens = `job "x" {\n  priority = ${"(".repeat(10_000)}1${")".repeat(10_000)}\n}\n`;
    expect((await messages(deepParens))[0]).toMatch(/nesting is deeper than 64 levels/);
    const longSum = `job "x" {\n  priority = ${Array(10_000).fill("1").join(" + ")}\n}\n`;
    expect((await messages(longSum))[0]).toMatch(/nesting is deeper than 64 levels/);
    const deepCalls = `job "x" {\n  region = ${"upper(".repeat(10_000)}"a"${")".repeat(10_000)}\n}\n`;
    expect((await messages(deepCalls))[0]).toMatch(/nesting is deeper than 64 levels/);
  });

  it("says where a file stops being UTF-8", async () => {
    const bytes = new TextEncoder().encode(demo.replace('image = "httpd"', 'image = "httpdXX"'));
    const at = Buffer.from(bytes).indexOf("XX");
    bytes[at] = 0xc3;
    bytes[at + 1] = 0x28;
    expect(await messages(bytes)).toEqual([`job.hcl:20:23: the file is not valid UTF-8 (byte 0xc3 at offset ${at})`]);
  });

  it("refuses a NUL byte and an empty file", async () => {
    expect(await messages(new TextEncoder().encode('job "x" {\n  region = "a\0"\n}\n'))).toEqual(["job.hcl:2:14: the file holds a NUL byte; a job file is text"]);
    expect(await messages("")).toEqual(['job.hcl:1:1: no job block: a job file holds one job "name" { ... }']);
  });

  it("never throws on arbitrary text", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (s) => {
        const r = await parseJob(s, { file: "fuzz.hcl" });
        expect(r.ok || r.diagnostics.length > 0).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on the demo job with bytes changed, cut or repeated", async () => {
    const mutation = fc.record({ at: fc.nat({ max: demo.length }), len: fc.nat({ max: 40 }), insert: fc.string({ maxLength: 20 }), repeat: fc.nat({ max: 3 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (ms) => {
        let s = demo;
        for (const m of ms) s = s.slice(0, m.at) + m.insert.repeat(m.repeat + 1) + s.slice(m.at + m.len);
        const r = await parseJob(s, { file: "fuzz.hcl" });
        if (!r.ok) for (const d of r.diagnostics) expect(d.message.length).toBeGreaterThan(0);
      }),
      { numRuns: 400 },
    );
  });

  it("never throws on arbitrary JSON", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (v) => {
        const r = await parseJob(JSON.stringify({ Job: v }), { file: "fuzz.json" });
        expect(r.ok || r.diagnostics.length > 0).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
