import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

/** The `ruche` binary as npm installs it: the built dist/, run as its own process. */
const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = `${root}dist/cli/main.js`;
const run = promisify(execFile);

describe("the ruche binary", () => {
  it("is built (npm test builds it before the tests)", () => {
    expect(existsSync(bin), `${bin} is missing: run npm run build`).toBe(true);
  });

  it("validates the demo job and exits 0", async () => {
    const { stdout } = await run(process.execPath, [bin, "job", "validate", "examples/demoapp.hcl"], { cwd: root });
    expect(stdout).toBe("Job validation successful\n");
  });

  it("exits 1 with the errors on stderr for a bad job", async () => {
    const err = await run(process.execPath, [bin, "job", "validate", "package.json"], { cwd: root }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 1, stdout: "" });
    expect((err as { stderr: string }).stderr).toMatch(/^Job validation errors \(\d+\):\n {2}package\.json: /);
  });
});
