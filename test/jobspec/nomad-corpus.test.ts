/**
 * Other people's Nomad job files (test/fixtures/nomad-corpus, sources in its SOURCES.md),
 * each read by the jobspec as `ruche job validate` reads it. A file either validates or is
 * refused; the test prints one line per file and asserts that at least FLOOR validate, a
 * figure raised as Ruche learns what these files use. Every refusal left is listed, with
 * its reason, in SOURCES.md.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatDiagnostic, parseJob } from "../../src/jobspec/index.js";
import { CORPUS_DIR, corpusInputs } from "./nomad-corpus-inputs.js";

const dir = CORPUS_DIR;
const files = readdirSync(dir)
  .filter((f) => /\.(nomad|hcl|json)$/.test(f))
  .sort();


/** How many files validate, at least: raise it when more do, never lower it. */
const FLOOR = 306;

describe("other people's Nomad job files", () => {
  it("the corpus holds at least 60 files, each listed in SOURCES.md", () => {
    expect(files.length).toBeGreaterThanOrEqual(60);
    const sources = readFileSync(new URL("SOURCES.md", dir), "utf8");
    expect(files.filter((f) => !sources.includes(`\`${f}\``))).toEqual([]);
  });

  it(`at least ${FLOOR} of them validate, and none crashes the reader`, async () => {
    const lines: string[] = [];
    const crashed: string[] = [];
    let ok = 0;
    for (const file of files) {
      let result: Awaited<ReturnType<typeof parseJob>>;
      try {
        result = await parseJob(readFileSync(new URL(file, dir)), corpusInputs(file));
      } catch (err) {
        crashed.push(`${file}: ${String(err)}`);
        lines.push(`CRASHED ${file}: ${String(err)}`);
        continue;
      }
      if (result.ok) {
        ok += 1;
        lines.push(`ok      ${file}`);
      } else {
        const first = result.diagnostics[0];
        lines.push(`refused ${first === undefined ? file : formatDiagnostic(first)}${result.diagnostics.length > 1 ? ` (+${result.diagnostics.length - 1} more)` : ""}`);
      }
    }
    lines.push(`${ok} of ${files.length} validate`);
    process.stdout.write(`${lines.join("\n")}\n`);
    expect(crashed).toEqual([]);
    expect(ok).toBeGreaterThanOrEqual(FLOOR);
  });
});
