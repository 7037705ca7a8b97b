import { describe, expect, it } from "vitest";
import { mock } from "../structs/index.js";
import { interpolate, interpolateConfig, taskEnv } from "./env.js";

describe("task environment", () => {
  const node = mock.node({ name: "n1", datacenter: "europe-west1", meta: { role: "web" } });
  const job = mock.job({ id: "demoapp" });
  job.Meta = { owner: "ops" };
  const tg = job.TaskGroups[0]!;
  const task = tg.Tasks[0]!;
  task.Env = { GREETING: "hello from ${NOMAD_ALLOC_NAME} on ${node.unique.name}", UNKNOWN: "${nope.x}" };
  const alloc = mock.alloc(job, node, 1, {
    Resources: { CPU: 100, MemoryMB: 64, DiskMB: 0, Networks: [{ Mode: "host", MBits: 0, IP: "127.0.0.1", ReservedPorts: [], DynamicPorts: [{ Label: "http", Value: 24567, To: 80, HostNetwork: "" }] }] },
  });
  const env = taskEnv(alloc, tg, task, node, { alloc: "/alloc", local: "/local", secrets: "/secrets" });

  it("has the RUCHE_* variables and their NOMAD_* twins", () => {
    expect(env).toMatchObject({
      RUCHE_ALLOC_ID: alloc.ID,
      NOMAD_ALLOC_ID: alloc.ID,
      RUCHE_ALLOC_INDEX: "1",
      RUCHE_TASK_NAME: task.Name,
      NOMAD_JOB_NAME: "demoapp",
      NOMAD_DC: "europe-west1",
      NOMAD_ALLOC_DIR: "/alloc",
      NOMAD_TASK_DIR: "/local",
      RUCHE_META_owner: "ops",
      NOMAD_META_OWNER: "ops",
    });
  });

  it("gives each port its address: the mapped port inside, the host port outside", () => {
    expect(env).toMatchObject({
      RUCHE_PORT_http: "80",
      NOMAD_PORT_http: "80",
      RUCHE_HOST_PORT_http: "24567",
      RUCHE_ADDR_http: "127.0.0.1:24567",
      NOMAD_IP_http: "127.0.0.1",
    });
  });

  it("interpolates the task's env; unknown references stay as written", () => {
    expect(env.GREETING).toBe("hello from demoapp.web[1] on n1");
    expect(env.UNKNOWN).toBe("${nope.x}");
  });

  it("interpolates every string of a driver config, node attributes and metadata included", () => {
    const vars = { env, node };
    expect(interpolateConfig({ command: "httpd", args: ["-p", "${NOMAD_PORT_http}", "${meta.role}"], nested: { dc: "${node.datacenter}" }, n: 3 }, vars)).toEqual({
      command: "httpd",
      args: ["-p", "80", "web"],
      nested: { dc: "europe-west1" },
      n: 3,
    });
    expect(interpolate("${attr.kernel.name}/${env.RUCHE_TASK_NAME}", vars)).toBe(`linux/${task.Name}`);
  });
});
