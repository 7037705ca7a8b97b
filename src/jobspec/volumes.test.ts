import { describe, expect, it } from "vitest";
import type { Job } from "../structs/index.js";
import { diffJobs } from "./diff.js";
import { formatDiagnostic, parseJob, type ParseJobOptions } from "./index.js";

async function ok(src: string, opts: ParseJobOptions = {}): Promise<Job> {
  const r = await parseJob(src, { file: "job.hcl", ...opts });
  if (!r.ok) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.job;
}

async function errors(src: string, opts: ParseJobOptions = {}): Promise<string[]> {
  const r = await parseJob(src, { file: "job.hcl", ...opts });
  if (r.ok) throw new Error("the job was accepted");
  return r.diagnostics.map(formatDiagnostic);
}

function job(groupBody: string, taskBody: string, driver = "docker"): string {
  return `job "vols" {
  group "g" {
${groupBody}
    task "t" {
      driver = "${driver}"
      config {
        image   = "busybox"
        command = "/bin/true"
      }
${taskBody}
    }
  }
}
`;
}

const VOLUME = `    volume "data" {
      type      = "host"
      source    = "shared"
      read_only = true
    }`;
const MOUNT = `      volume_mount {
        volume      = "data"
        destination = "/srv/data"
      }`;

describe("host volumes in job files", () => {
  it("read a group's volume and a task's volume_mount as Nomad's api.VolumeRequest and api.VolumeMount, defaults filled", async () => {
    const j = await ok(job(VOLUME, MOUNT));
    const g = j.TaskGroups[0];
    expect(g?.Volumes).toEqual({
      data: { Name: "data", Type: "host", Source: "shared", ReadOnly: true, Sticky: false, AccessMode: "", AttachmentMode: "", MountOptions: null, PerAlloc: false },
    });
    expect(g?.Tasks[0]?.VolumeMounts).toEqual([{ Volume: "data", Destination: "/srv/data", ReadOnly: false, PropagationMode: "private", SELinuxLabel: "" }]);
  });

  it("read the JSON the Go client sends: Volumes a map by name, zero values for what is not set", async () => {
    const body = {
      Job: {
        ID: "vols",
        TaskGroups: [
          {
            Name: "g",
            Volumes: { data: { Name: "data", Type: "host", Source: "shared", ReadOnly: false, Sticky: false, AccessMode: "", AttachmentMode: "", MountOptions: null, PerAlloc: false } },
            Tasks: [
              {
                Name: "t",
                Driver: "docker",
                Config: { image: "busybox" },
                VolumeMounts: [{ Volume: "data", Destination: "/srv/data", ReadOnly: true, PropagationMode: "", SELinuxLabel: "" }],
              },
            ],
          },
        ],
      },
    };
    const j = await ok(JSON.stringify(body), { file: "job.json", api: true });
    expect(j.TaskGroups[0]?.Volumes?.data).toMatchObject({ Name: "data", Type: "host", Source: "shared", ReadOnly: false });
    expect(j.TaskGroups[0]?.Tasks[0]?.VolumeMounts).toEqual([{ Volume: "data", Destination: "/srv/data", ReadOnly: true, PropagationMode: "private", SELinuxLabel: "" }]);
    // The key names the volume when the item has no Name.
    const noName = structuredClone(body);
    const tg = noName.Job.TaskGroups[0] as { Volumes: Record<string, Record<string, unknown>> };
    delete tg.Volumes.data?.Name;
    expect((await ok(JSON.stringify(noName), { file: "job.json", api: true })).TaskGroups[0]?.Volumes?.data?.Name).toBe("data");
  });

  it("refuse a volume_mount of a volume the group lacks, at its path, with the nearest name", async () => {
    const errs = await errors(job(VOLUME, MOUNT.replace('volume      = "data"', 'volume      = "dtaa"')));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^job\.hcl:\d+:\d+: job\.group\[g\]\.task\[t\]\.volume_mount\[0\]\.volume: volume_mount names volume "dtaa", which group "g" does not declare .*did you mean "data"/);
  });

  it("refuse a csi volume with its one-line reason, at the volume's line", async () => {
    const errs = await errors(job(`    volume "db" {\n      type   = "csi"\n      source = "db"\n      attachment_mode = "file-system"\n      access_mode = "single-node-writer"\n    }`, ""));
    expect(errs).toEqual([expect.stringMatching(/^job\.hcl:4:7: job\.group\[g\]\.volume\[db\]\.type: type "csi": Ruche does not run CSI plugins/)]);
    const mountOptions = await errors(job(`    volume "db" {\n      type   = "host"\n      source = "db"\n      mount_options { fs_type = "ext4" }\n    }`, ""));
    expect(mountOptions).toEqual([expect.stringMatching(/volume\[db\]\.mount_options: "mount_options": mount_options are for CSI volumes/)]);
  });

  it("refuse sticky with per_alloc, a missing type or source, bad mount fields, raw_exec mounts", async () => {
    const errs = await errors(
      job(
        `    volume "a" {\n      type = "host"\n      source = "a"\n      sticky = true\n      per_alloc = true\n    }\n    volume "b" {\n      source = "b"\n    }\n    volume "c" {\n      type = "host"\n      access_mode = "single-node-reader-only"\n    }`,
        `      volume_mount {\n        volume = "a"\n        destination = "relative"\n        propagation_mode = "shared"\n        selinux_label = "q"\n      }`,
      ),
    );
    const text = errs.join("\n");
    expect(text).toMatch(/volume\[a\]\.sticky: volume cannot be per_alloc and sticky at the same time/);
    expect(text).toMatch(/volume\[b\]\.type: volume "b" needs a type: type = "host"/);
    expect(text).toMatch(/volume\[c\]\.source: volume "c" has an empty source/);
    expect(text).toMatch(/volume\[c\]\.read_only: single-node-reader-only volumes must be read-only/);
    expect(text).toMatch(/volume_mount\[0\]\.destination: volume_mount destination must be an absolute path in the task, got "relative"/);
    expect(text).toMatch(/volume_mount\[0\]\.propagation_mode: volume_mount propagation_mode must be one of private, host-to-task, bidirectional, got "shared"/);
    expect(text).toMatch(/volume_mount\[0\]\.selinux_label: volume_mount selinux_label must be "z" \(shared\) or "Z" \(private\), got "q"/);
    const raw = await errors(job(VOLUME, MOUNT, "raw_exec"));
    expect(raw).toEqual([expect.stringMatching(/task\[t\]\.volume_mount: task driver "raw_exec" does not support host volumes \(as in Nomad\)/)]);
  });

  it("take per_alloc as Nomad does: not in a system job, not with canaries", async () => {
    const perAlloc = `    volume "data" {\n      type = "host"\n      source = "data"\n      per_alloc = true\n    }`;
    await ok(job(perAlloc, MOUNT));
    const system = await errors(job(perAlloc, MOUNT).replace('job "vols" {', 'job "vols" {\n  type = "system"'));
    expect(system).toEqual([expect.stringMatching(/volume\[data\]\.per_alloc: volume cannot be per_alloc for system or sysbatch jobs/)]);
    const canary = await errors(job(`${perAlloc}\n    update {\n      canary = 1\n    }`, MOUNT));
    expect(canary).toEqual([expect.stringMatching(/volume\[data\]\.per_alloc: volume cannot be per_alloc when canaries are in use/)]);
  });

  it("refuse a volume declared twice in a group", async () => {
    const errs = await errors(job(`${VOLUME}\n${VOLUME}`, MOUNT));
    expect(errs).toEqual([expect.stringMatching(/volume\[data\]: volume "data" is declared twice in this group/)]);
  });

  it("show in a plan's diff as Nomad's Volume and VolumeMount objects", async () => {
    const before = await ok(job("", ""));
    const after = await ok(job(VOLUME, MOUNT));
    const g = diffJobs(before, after).TaskGroups[0];
    expect(g?.Objects.map((o) => [o.Type, o.Name])).toContainEqual(["Added", "Volume"]);
    expect(g?.Objects.find((o) => o.Name === "Volume")?.Fields).toContainEqual(expect.objectContaining({ Name: "Source", New: "shared" }));
    expect(g?.Tasks[0]?.Objects.map((o) => [o.Type, o.Name])).toContainEqual(["Added", "VolumeMount"]);
  });
});
