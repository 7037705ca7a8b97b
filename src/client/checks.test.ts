import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NS, type ServiceCheck } from "../structs/index.js";
import { CheckState, probe } from "./checks.js";

const check = (o: Partial<ServiceCheck> = {}): ServiceCheck => ({
  Name: "c",
  Type: "http",
  Command: "",
  Args: [],
  Path: "/health",
  Method: "",
  Protocol: "",
  Header: {},
  PortLabel: "",
  AddressMode: "host",
  Interval: NS.second,
  Timeout: 500 * NS.millisecond,
  InitialStatus: "",
  TaskName: "",
  SuccessBeforePassing: 0,
  FailuresBeforeCritical: 0,
  TLSSkipVerify: false,
  ...o,
});

let server: Server;
let port = 0;
/** A port nothing listens on (one fetch does not refuse outright, as it does port 1). */
let closedPort = 0;
beforeAll(async () => {
  const probeServer = createServer();
  await new Promise<void>((r) => probeServer.listen(0, "127.0.0.1", r));
  closedPort = (probeServer.address() as { port: number }).port;
  await new Promise((r) => probeServer.close(r));
  server = createServer((req, res) => {
    const code = Number(req.url?.slice(1) ?? "200");
    res.writeHead(Number.isFinite(code) && code >= 100 ? code : 200).end("body");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  server.close();
});

describe("probe", () => {
  it("http: 2xx passes, 429 warns, anything else or no answer is critical", async () => {
    const target = { ip: "127.0.0.1", port };
    expect((await probe(check({ Path: "/204" }), target, null)).status).toBe("passing");
    expect((await probe(check({ Path: "/429" }), target, null)).status).toBe("warning");
    const bad = await probe(check({ Path: "/503" }), target, null);
    expect(bad.status).toBe("critical");
    expect(bad.output).toContain("503");
    const closed = await probe(check(), { ip: "127.0.0.1", port: closedPort }, null);
    expect(closed).toMatchObject({ status: "critical" });
    expect(closed.output).toContain("ECONNREFUSED");
  });

  it("tcp: a listening port passes, a closed one is critical", async () => {
    expect((await probe(check({ Type: "tcp" }), { ip: "127.0.0.1", port }, null)).status).toBe("passing");
    expect((await probe(check({ Type: "tcp" }), { ip: "127.0.0.1", port: closedPort }, null)).status).toBe("critical");
  });

  it("script: exit 0 passes, 1 warns, others are critical, a timeout is critical", async () => {
    const run = (code: number, timedOut = false) => () => Promise.resolve({ exitCode: code, output: "out", timedOut });
    expect((await probe(check({ Type: "script", Command: "x" }), null, run(0))).status).toBe("passing");
    expect((await probe(check({ Type: "script", Command: "x" }), null, run(1))).status).toBe("warning");
    expect((await probe(check({ Type: "script", Command: "x" }), null, run(2))).status).toBe("critical");
    expect(await probe(check({ Type: "script", Command: "x" }), null, run(0, true))).toEqual({ status: "critical", output: "timed out after 500ms" });
  });

  it("a check without an address is critical and says so", async () => {
    expect(await probe(check(), null, null)).toEqual({ status: "critical", output: "no address for the check's port" });
  });
});

describe("CheckState", () => {
  it("turns passing only after success_before_passing passes in a row, critical after failures_before_critical", () => {
    const s = new CheckState(check({ SuccessBeforePassing: 2, FailuresBeforeCritical: 3 }));
    expect(s.status).toBe("critical");
    expect(s.record({ status: "passing", output: "" })).toBe(false);
    expect(s.record({ status: "passing", output: "" })).toBe(true);
    expect(s.status).toBe("passing");
    s.record({ status: "critical", output: "" });
    s.record({ status: "critical", output: "" });
    expect(s.status).toBe("passing");
    s.record({ status: "passing", output: "" });
    s.record({ status: "critical", output: "" });
    s.record({ status: "critical", output: "" });
    expect(s.status).toBe("passing");
    expect(s.record({ status: "critical", output: "down" })).toBe(true);
    expect(s).toMatchObject({ status: "critical", output: "down" });
  });

  it("starts at the check's initial status", () => {
    expect(new CheckState(check({ InitialStatus: "passing" })).status).toBe("passing");
  });
});
