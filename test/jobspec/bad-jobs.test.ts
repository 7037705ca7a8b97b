/**
 * The corpus of bad job files: each `NN-name.hcl` / `NN-name.json` in test/fixtures/bad-jobs
 * holds one realistic mistake (a few hold several), and `NN-name.expected` beside it holds
 * exactly what `ruche job validate` prints on stderr for it.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli, type IO } from "../../src/cli/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = "test/fixtures/bad-jobs";
const names = readdirSync(new URL(`../../${dir}`, import.meta.url)).sort();
const jobFiles = names.filter((f) => /\.(hcl|json)$/.test(f));
const expectedOf = (f: string): string => f.replace(/\.(hcl|json)$/, ".expected");

async function validate(relPath: string): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: IO = {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    env: {},
    cwd: root,
  };
  const code = await runCli(["job", "validate", relPath], io);
  return { code, out, err };
}

describe("bad job files", () => {
  it("the corpus holds at least 40 cases, each with its .expected and nothing else", () => {
    expect(jobFiles.length).toBeGreaterThanOrEqual(40);
    expect(names.filter((f) => f.endsWith(".expected"))).toEqual(jobFiles.map(expectedOf).sort());
    expect(names.filter((f) => !f.startsWith(".") && !/\.(hcl|json|expected)$/.test(f))).toEqual([]);
  });

  it.each(jobFiles)("%s", async (file) => {
    const relPath = `${dir}/${file}`;
    const expected = readFileSync(new URL(`../../${dir}/${expectedOf(file)}`, import.meta.url), "utf8");
    expect(await validate(relPath)).toEqual({ code: 1, out: "", err: expected });
  });
});
