import { describe, it, expect } from "vitest";
import type { Job, Task, TaskGroup } from "../structs/index.js";
import { NS, RucheError } from "../structs/index.js";
import type { JobDiff, ObjectDiff } from "./diff.js";
import { Annotation, DiffType, diffJobs, taskUpdateClass, updatesFromDesired } from "./diff.js";
import { formatJobDiff } from "./diff-format.js";
import { demoJob, demoTask } from "./testing.js";

function group(job: Job, name = "webs"): TaskGroup {
  return job.TaskGroups.find((g) => g.Name === name)!;
}

function task(job: Job, name = "frontend"): Task {
  return group(job).Tasks.find((t) => t.Name === name)!;
}

/** The demo job, changed by `edit`. */
function changed(edit: (job: Job) => void): Job {
  const job = demoJob();
  edit(job);
  return job;
}

function plan(diff: JobDiff, verbose = false): string {
  return formatJobDiff(diff, { verbose });
}

function lines(...text: string[]): string {
  return text.join("\n");
}

/** Every diff type anywhere in the tree. */
function allTypes(diff: JobDiff): string[] {
  const fromObject = (o: ObjectDiff): string[] => [
    o.Type,
    ...o.Fields.map((f) => f.Type),
    ...o.Objects.flatMap(fromObject),
  ];
  return [
    diff.Type,
    ...diff.Fields.map((f) => f.Type),
    ...diff.Objects.flatMap(fromObject),
    ...diff.TaskGroups.flatMap((g) => [
      g.Type,
      ...g.Fields.map((f) => f.Type),
      ...g.Objects.flatMap(fromObject),
      ...g.Tasks.flatMap((t) => [t.Type, ...t.Fields.map((f) => f.Type), ...t.Objects.flatMap(fromObject)]),
    ]),
  ];
}

describe("diffJobs and formatJobDiff", () => {
  it("shows a resources change as a create/destroy update, with the edited object in context", () => {
    const next = changed((job) => {
      task(job).Resources.CPU = 300;
      task(job).Resources.MemoryMB = 128;
    });
    const diff = diffJobs(demoJob(), next);
    diff.TaskGroups[0]!.Updates = { canary: 1, ignore: 2 };

    expect(diff.TaskGroups[0]!.Tasks[0]!.Annotations).toEqual([Annotation.ForcesDestructiveUpdate]);
    expect(taskUpdateClass(diff.TaskGroups[0]!.Tasks[0]!)).toBe("destructive");
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs" (1 canary, 2 ignore)`,
        `  +/- Task: "frontend" (forces create/destroy update)`,
        `    +/- Resources {`,
        `      +/- CPU:         "200" => "300"`,
        `          Cores:       "0"`,
        `          DiskMB:      "0"`,
        `      +/- MemoryMB:    "64" => "128"`,
        `          MemoryMaxMB: "0"`,
        `        }`,
      ),
    );
  });

  it("shows a tag change as an in-place update, the tags as a set", () => {
    const next = changed((job) => {
      task(job).Services[0]!.Tags = ["web", "urlprefix-/demo"];
    });
    const diff = diffJobs(demoJob(), next);

    const frontend = diff.TaskGroups[0]!.Tasks[0]!;
    expect(frontend.Annotations).toEqual([Annotation.ForcesInPlaceUpdate]);
    expect(taskUpdateClass(frontend)).toBe("in-place");
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs"`,
        `  +/- Task: "frontend" (forces in-place update)`,
        `    +/- Service {`,
        `          AddressMode: "auto"`,
        `          Name:        "demoapp-frontend"`,
        `          PortLabel:   "http"`,
        `          TaskName:    ""`,
        `      +/- Tags {`,
        `        + Tags: "urlprefix-/demo"`,
        `        - Tags: "urlprefix-/"`,
        `          Tags: "web"`,
        `          }`,
        `        }`,
      ),
    );
  });

  it("annotates a count increase on the Count field and leaves the task alone", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        group(job).Count = 3;
      }),
    );

    const count = diff.TaskGroups[0]!.Fields.find((f) => f.Name === "Count")!;
    expect(count).toMatchObject({ Type: "Edited", Old: "2", New: "3", Annotations: [Annotation.ForcesCreate] });
    expect(diff.TaskGroups[0]!.Tasks[0]!.Annotations).toEqual([]);
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs"`,
        `  +/- Count: "2" => "3" (forces create)`,
        `      Task: "frontend"`,
      ),
    );
  });

  it("annotates a count decrease with forces destroy", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        group(job).Count = 1;
      }),
    );
    expect(plan(diff)).toContain(`  +/- Count: "2" => "1" (forces destroy)`);
  });

  it("finds nothing between identical jobs, whatever the server fields say", () => {
    const registered = changed((job) => {
      job.Version = 4;
      job.Stable = false;
      job.ModifyIndex = 99;
      job.JobModifyIndex = 99;
      job.SubmitTime = 123;
      job.Status = "pending";
    });
    const diff = diffJobs(registered, demoJob());

    expect(new Set(allTypes(diff))).toEqual(new Set([DiffType.None]));
    expect(diff.TaskGroups[0]!.Tasks[0]!.Annotations).toEqual([]);
    expect(plan(diff)).toBe(lines(`Job: "demoapp"`, `Task Group: "webs"`, `  Task: "frontend"`));
  });

  it("shows a new job as added, its groups and tasks forcing creation", () => {
    const diff = diffJobs(null, demoJob());

    expect(diff.Type).toBe("Added");
    expect(diff.ID).toBe("demoapp");
    expect(diff.TaskGroups[0]!.Fields.find((f) => f.Name === "Count")!.Annotations).toEqual([Annotation.ForcesCreate]);
    expect(plan(diff)).toBe(
      lines(`+ Job: "demoapp"`, `+ Task Group: "webs"`, `  + Task: "frontend" (forces create)`),
    );

    const verbose = plan(diff, true);
    expect(verbose).toContain(`+ Priority:  "50"`);
    expect(verbose).toContain(`  + Count: "2" (forces create)`);
    expect(verbose).toContain(`    + Driver:      "docker"`);
    expect(verbose).toContain(`    + KillTimeout: "5s"`);
    expect(verbose).toContain(`      KillSignal:  ""`);
  });

  it("shows a purged job as deleted, its tasks forcing destruction", () => {
    const diff = diffJobs(demoJob(), null);
    expect(plan(diff)).toBe(
      lines(`- Job: "demoapp"`, `- Task Group: "webs"`, `  - Task: "frontend" (forces destroy)`),
    );
  });

  it("treats an env change as destructive", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        task(job).Env = { APP_ENV: "staging" };
      }),
    );
    expect(taskUpdateClass(diff.TaskGroups[0]!.Tasks[0]!)).toBe("destructive");
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs"`,
        `  +/- Task: "frontend" (forces create/destroy update)`,
        `    +/- Env {`,
        `      +/- APP_ENV: "production" => "staging"`,
        `        }`,
      ),
    );
  });

  it("shows a kill timeout change as an in-place update, in Go duration text", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        task(job).KillTimeout = 90 * NS.second;
      }),
    );
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs"`,
        `  +/- Task: "frontend" (forces in-place update)`,
        `    +/- KillTimeout: "5s" => "1m30s"`,
      ),
    );
  });

  it("replaces every task of the group when a port mapping changes", () => {
    const withSidecar = (job: Job): void => {
      group(job).Tasks.push({ ...demoTask(), Name: "logshipper", Services: [], Config: { image: "vector:0.40" } });
    };
    const old = changed(withSidecar);
    const next = changed((job) => {
      withSidecar(job);
      group(job).Networks[0]!.DynamicPorts[0]!.To = 8080;
    });
    const diff = diffJobs(old, next);

    const tasks = diff.TaskGroups[0]!.Tasks;
    expect(tasks.map((t) => [t.Name, t.Type, taskUpdateClass(t)])).toEqual([
      ["frontend", "None", "destructive"],
      ["logshipper", "None", "destructive"],
    ]);
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs"`,
        `  +/- Network {`,
        `        MBits: "0"`,
        `        Mode:  "host"`,
        `    +/- Dynamic Port {`,
        `          HostNetwork: "default"`,
        `          Label:       "http"`,
        `      +/- To:          "80" => "8080"`,
        `        }`,
        `      }`,
        `      Task: "frontend" (forces create/destroy update)`,
        `      Task: "logshipper" (forces create/destroy update)`,
      ),
    );
  });

  it("replaces the group's tasks when its ephemeral disk or meta changes, not when its restart policy does", () => {
    const disk = diffJobs(
      demoJob(),
      changed((job) => {
        group(job).EphemeralDisk.SizeMB = 500;
      }),
    );
    expect(disk.TaskGroups[0]!.Tasks[0]!.Annotations).toEqual([Annotation.ForcesDestructiveUpdate]);

    const meta = diffJobs(
      demoJob(),
      changed((job) => {
        group(job).Meta = { owner: "team-a" };
      }),
    );
    expect(meta.TaskGroups[0]!.Tasks[0]!.Annotations).toEqual([Annotation.ForcesDestructiveUpdate]);

    const restart = diffJobs(
      demoJob(),
      changed((job) => {
        group(job).RestartPolicy.Attempts = 5;
      }),
    );
    expect(restart.TaskGroups[0]!.Tasks[0]!.Annotations).toEqual([]);
    expect(plan(restart)).toContain(lines(`  +/- RestartPolicy {`, `    +/- Attempts: "2" => "5"`, `        Delay:    "15s"`));
  });

  it("shows an added task and a removed task", () => {
    const sidecar = (job: Job): void => {
      group(job).Tasks.push({ ...demoTask(), Name: "logshipper", Services: [] });
    };

    const added = diffJobs(demoJob(), changed(sidecar));
    expect(plan(added)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs"`,
        `    Task: "frontend"`,
        `  + Task: "logshipper" (forces create/destroy update)`,
      ),
    );

    const removed = diffJobs(changed(sidecar), demoJob());
    expect(plan(removed)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+/- Task Group: "webs"`,
        `    Task: "frontend"`,
        `  - Task: "logshipper" (forces create/destroy update)`,
      ),
    );
    expect(plan(removed, true)).toContain(`    - Driver:      "docker"`);
  });

  it("shows an added group as created, beside the unchanged one", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        job.TaskGroups.push({ ...structuredClone(group(job)), Name: "workers", Count: 1 });
      }),
    );
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `  Task Group: "webs"`,
        `    Task: "frontend"`,
        ``,
        `+ Task Group: "workers"`,
        `  + Task: "frontend" (forces create)`,
      ),
    );
  });

  it("shows an added datacenter as an item of the Datacenters set", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        job.Datacenters = ["dc1", "dc2"];
      }),
    );

    expect(diff.Objects.find((o) => o.Name === "Datacenters")).toMatchObject({
      Type: "Added",
      Fields: [
        { Type: "Added", Name: "Datacenters", Old: "", New: "dc2" },
        { Type: "None", Name: "Datacenters", Old: "dc1", New: "dc1" },
      ],
    });
    expect(plan(diff)).toBe(
      lines(
        `+/- Job: "demoapp"`,
        `+ Datacenters {`,
        `  + Datacenters: "dc2"`,
        `    Datacenters: "dc1"`,
        `  }`,
        `  Task Group: "webs"`,
        `    Task: "frontend"`,
      ),
    );
  });

  it("shows job fields that changed, and unchanged ones only when verbose", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        job.Priority = 70;
      }),
    );
    expect(plan(diff)).toBe(
      lines(`+/- Job: "demoapp"`, `+/- Priority: "50" => "70"`, `    Task Group: "webs"`, `      Task: "frontend"`),
    );
    expect(plan(diff, true)).toContain(`    Region:    "global"`);
  });

  it("shows a replaced constraint as one removed and one added", () => {
    const diff = diffJobs(
      changed((job) => {
        job.Constraints = [{ LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "linux" }];
      }),
      changed((job) => {
        job.Constraints = [{ LTarget: "${attr.kernel.name}", Operand: "=", RTarget: "darwin" }];
      }),
    );
    expect(diff.Objects.filter((o) => o.Name === "Constraint").map((o) => [o.Name, o.Type])).toEqual([
      ["Constraint", "Added"],
      ["Constraint", "Deleted"],
    ]);
    expect(plan(diff)).toContain(lines(`+ Constraint {`, `  + LTarget: "\${attr.kernel.name}"`));
  });

  it("lists group updates in Nomad's order and leaves zero counts out", () => {
    const diff = diffJobs(demoJob(), demoJob());
    diff.TaskGroups[0]!.Updates = updatesFromDesired({
      Ignore: 0,
      Place: 1,
      Migrate: 0,
      Stop: 3,
      InPlaceUpdate: 2,
      DestructiveUpdate: 1,
      Canary: 1,
      Preemptions: 0,
    });
    expect(plan(diff)).toContain(
      `Task Group: "webs" (1 canary, 1 create, 1 create/destroy update, 3 destroy, 2 in-place update)`,
    );
  });

  it("lets the CLI style markers and notes without breaking the alignment", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        group(job).Count = 3;
      }),
    );
    const text = formatJobDiff(diff, {
      verbose: false,
      style: { marker: (m) => `<${m}>`, note: (n) => `*${n}*`, heading: (h) => h.toUpperCase() },
    });
    expect(text).toBe(
      lines(
        `<+/-> JOB: "DEMOAPP"`,
        `<+/-> TASK GROUP: "WEBS"`,
        `  <+/-> Count: "2" => "3" (*forces create*)`,
        `      TASK: "FRONTEND"`,
      ),
    );
  });

  it("quotes values as Go does", () => {
    const diff = diffJobs(
      demoJob(),
      changed((job) => {
        task(job).Env = { APP_ENV: 'say "hi"\n' };
      }),
    );
    expect(plan(diff)).toContain(`+/- APP_ENV: "production" => "say \\"hi\\"\\n"`);
  });

  it("refuses to diff two different jobs", () => {
    expect(() =>
      diffJobs(
        demoJob(),
        changed((job) => {
          job.ID = "other";
        }),
      ),
    ).toThrow(RucheError);
  });
});
