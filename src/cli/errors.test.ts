import { describe, expect, it } from "vitest";
import { ApiError } from "../apiclient/index.js";
import { UsageError } from "./args.js";
import { CommandError, reportError } from "./errors.js";
import type { IO } from "./io.js";

function capture(err: unknown): { code: number; err: string } {
  let text = "";
  const io: IO = { out: () => undefined, err: (t) => (text += t), env: {}, cwd: "/" };
  const code = reportError(err, io, "Usage: ruche x\n");
  return { code, err: text };
}

describe("reportError", () => {
  it("prints an API error's message and each of its details, and exits 1", () => {
    const e = new ApiError(400, "RUCHE_INVALID_JOB", "the job is not valid: 2 errors", "Job", ["request:3:5: job.group[g].cout: unknown attribute", "request:5:7: unknown driver"]);
    expect(capture(e)).toEqual({ code: 1, err: "Error: the job is not valid: 2 errors\n  request:3:5: job.group[g].cout: unknown attribute\n  request:5:7: unknown driver\n" });
    expect(capture(new ApiError(409, "RUCHE_INDEX_CONFLICT", "job \"web\" has changed"))).toEqual({ code: 1, err: 'Error: job "web" has changed\n' });
  });

  it("adds the usage to a usage mistake, and exits 255 on what nobody expected", () => {
    expect(capture(new UsageError("this command needs ID"))).toEqual({ code: 1, err: "Error: this command needs ID\n\nUsage: ruche x\n" });
    expect(capture(new CommandError("No job with prefix or id \"x\" found"))).toEqual({ code: 1, err: 'Error: No job with prefix or id "x" found\n' });
    expect(capture(new TypeError("boom"))).toEqual({ code: 255, err: "Error: boom\n" });
  });
});
