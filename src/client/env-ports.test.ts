import { describe, expect, it } from "vitest";
import { mock, type Port, type Task } from "../structs/index.js";
import { interpolate, taskEnv } from "./env.js";

const dirs = { alloc: "/alloc", local: "/local", secrets: "/secrets" };

function setup(ports: Port[], taskNames: string[]) {
  const node = mock.node();
  const job = mock.job({ id: "shop" });
  const tg = job.TaskGroups[0]!;
  tg.Tasks = taskNames.map((name): Task => ({ ...mock.task(), Name: name }));
  const alloc = mock.alloc(job, node, 0, {
    Resources: { CPU: 100, MemoryMB: 64, DiskMB: 0, Networks: [{ Mode: "host", MBits: 0, IP: "10.0.0.7", ReservedPorts: [], DynamicPorts: ports }] },
  });
  return { node, tg, alloc, env: (task: string) => taskEnv(alloc, tg, tg.Tasks.find((t) => t.Name === task)!, node, dirs) };
}

describe("ports in a task's environment, as Nomad names them", () => {
  it("names a label with dashes with underscores in NOMAD_PORT_, NOMAD_ADDR_, NOMAD_IP_ and NOMAD_HOST_PORT_, as Nomad's taskenv cleans them", () => {
    const { env, node } = setup([{ Label: "public-api", Value: 24567, To: 8080, HostNetwork: "" }], ["web"]);
    const e = env("web");
    expect(e).toMatchObject({
      NOMAD_PORT_public_api: "8080",
      NOMAD_ADDR_public_api: "10.0.0.7:24567",
      NOMAD_IP_public_api: "10.0.0.7",
      NOMAD_HOST_PORT_public_api: "24567",
      // The others keep the label as written, as in Nomad.
      "NOMAD_HOST_IP_public-api": "10.0.0.7",
      "NOMAD_ALLOC_PORT_public-api": "8080",
    });
    expect(e["NOMAD_PORT_public-api"]).toBeUndefined();
    expect(interpolate("-listen :${NOMAD_PORT_public_api}", { env: e, node })).toBe("-listen :8080");
  });

  it("shows a task its own port of the older syntax by its own label, when another task of the group declared the same", () => {
    const { env } = setup(
      [
        { Label: "http", Value: 21000, To: 21000, HostNetwork: "" },
        { Label: "user-db_http", Value: 22000, To: 22000, HostNetwork: "" },
      ],
      ["user", "user-db"],
    );
    expect(env("user")).toMatchObject({ NOMAD_PORT_http: "21000", NOMAD_PORT_user_db_http: "22000" });
    // As in Nomad, each task's NOMAD_PORT_http is its own port.
    expect(env("user-db")).toMatchObject({ NOMAD_PORT_http: "22000", NOMAD_HOST_PORT_http: "22000", NOMAD_ADDR_http: "10.0.0.7:22000" });
  });
});
