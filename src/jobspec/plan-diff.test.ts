import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { diffJobs, formatJobDiff, parseJob, taskUpdateClass } from "./index.js";
import type { Job } from "../structs/index.js";

/** The reference walkthrough's update: the same demoapp job with cpu 300 and memory 128. */
const demo = readFileSync(new URL("../../examples/demoapp.hcl", import.meta.url), "utf8");

async function parse(text: string): Promise<Job> {
  const r = await parseJob(text, { file: "demoapp.hcl" });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.job;
}

describe("plan diff of the canary update", () => {
  it("shows the resource change and classes it as forcing create/destroy, as the walkthrough does", async () => {
    const before = await parse(demo);
    const after = await parse(demo.replace("cpu    = 200", "cpu    = 300").replace("memory = 64", "memory = 128"));
    const diff = diffJobs(before, after);
    const group = diff.TaskGroups[0]!;
    group.Updates = { canary: 1, ignore: 2 };
    expect(taskUpdateClass(group.Tasks[0]!)).toBe("destructive");
    expect(formatJobDiff(diff, { verbose: false })).toBe(
      [
        '+/- Job: "demoapp"',
        '+/- Task Group: "webs" (1 canary, 2 ignore)',
        '  +/- Task: "frontend" (forces create/destroy update)',
        "    +/- Resources {",
        '      +/- CPU:         "200" => "300"',
        '          Cores:       "0"',
        '          DiskMB:      "0"',
        '      +/- MemoryMB:    "64" => "128"',
        '          MemoryMaxMB: "0"',
        "        }",
      ].join("\n"),
    );
  });

  it("classes a tag change as in place and a new image as create/destroy", async () => {
    const before = await parse(demo);
    const tags = diffJobs(before, await parse(demo.replace('"traefik.tags=exposed"', '"traefik.tags=internal"')));
    expect(taskUpdateClass(tags.TaskGroups[0]!.Tasks[0]!)).toBe("in-place");
    const image = diffJobs(before, await parse(demo.replace('image = "httpd"', 'image = "httpd:2.4"')));
    expect(taskUpdateClass(image.TaskGroups[0]!.Tasks[0]!)).toBe("destructive");
    const same = diffJobs(before, await parse(demo));
    expect(same.Type).toBe("None");
  });
});
