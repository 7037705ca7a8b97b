import { describe, expect, it } from "vitest";
import { dispatchedJob, dispatchedJobId, dispatchProblem, DISPATCH_PAYLOAD_SIZE_LIMIT, isParameterized, type DispatchRequest } from "./dispatch.js";
import type { Job, ParameterizedJobConfig } from "./job.js";
import * as mock from "./mock.js";

function template(cfg: Partial<ParameterizedJobConfig> = {}): Job {
  return { ...mock.job({ id: "report", type: "batch" }), Meta: { owner: "ops", region: "eu" }, ParameterizedJob: { Payload: "optional", MetaRequired: [], MetaOptional: [], ...cfg } };
}
function req(o: Partial<DispatchRequest> = {}): DispatchRequest {
  return { payload: new Uint8Array(), meta: {}, idPrefixTemplate: "", priority: 0, ...o };
}
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("a dispatch request", () => {
  it("is checked against the parameterized block, in Nomad's words", () => {
    expect(dispatchProblem(template({ Payload: "required" }), req())).toBe("Payload is not provided but required by parameterized job");
    expect(dispatchProblem(template({ Payload: "forbidden" }), req({ payload: bytes("x") }))).toBe("Payload provided but forbidden by parameterized job");
    expect(dispatchProblem(template(), req({ payload: new Uint8Array(DISPATCH_PAYLOAD_SIZE_LIMIT + 1) }))).toBe(`Payload exceeds maximum size; ${DISPATCH_PAYLOAD_SIZE_LIMIT + 1} > 16384`);
    expect(dispatchProblem(template({ MetaOptional: ["b"] }), req({ meta: { zz: "1", b: "2", aa: "3" } }))).toBe("Dispatch request included unpermitted metadata keys: [aa zz]");
    expect(dispatchProblem(template({ MetaRequired: ["size", "color"], MetaOptional: ["b"] }), req({ meta: { b: "1" } }))).toBe("Dispatch did not provide required meta keys: [color size]");
  });

  it("passes when the meta and payload are as the job asks", () => {
    expect(dispatchProblem(template({ Payload: "required", MetaRequired: ["size"], MetaOptional: ["color"] }), req({ payload: bytes("x"), meta: { size: "3" } }))).toBeNull();
    expect(dispatchProblem(template({ Payload: "forbidden" }), req())).toBeNull();
    expect(dispatchProblem(template(), req({ payload: new Uint8Array(DISPATCH_PAYLOAD_SIZE_LIMIT) }))).toBeNull();
  });

  it("is refused for a job that is no template: not parameterized, a dispatched child, or stopped", () => {
    expect(dispatchProblem(mock.job({ id: "web" }), req())).toBe('Specified job "web" is not a parameterized job');
    expect(dispatchProblem({ ...template(), Dispatched: true }, req())).toBe('Specified job "report" is not a parameterized job');
    expect(dispatchProblem({ ...template(), Stop: true }, req())).toBe('Specified job "report" is stopped');
  });
});

describe("a dispatched child job", () => {
  it("is named <parent>/dispatch-<unix>-<8 hex>, with the prefix template before the time", () => {
    expect(dispatchedJobId("report", "", 1_700_000_000, "0123abcd")).toBe("report/dispatch-1700000000-0123abcd");
    expect(dispatchedJobId("report", "nightly", 1_700_000_000, "0123abcd")).toBe("report/dispatch-nightly-1700000000-0123abcd");
  });

  it("is the parent's copy with the meta merged, the payload kept, and marked dispatched", () => {
    const parent = { ...template(), Version: 4, JobModifyIndex: 99, CreateIndex: 7, SubmitTime: 5 };
    const child = dispatchedJob(parent, "report/dispatch-1-0123abcd", req({ meta: { region: "us", extra: "1" }, payload: bytes("hello") }));
    expect(child).toMatchObject({
      ID: "report/dispatch-1-0123abcd",
      Name: "report/dispatch-1-0123abcd",
      ParentID: "report",
      Dispatched: true,
      Priority: parent.Priority,
      Meta: { owner: "ops", region: "us", extra: "1" },
      Payload: Buffer.from("hello").toString("base64"),
      ParameterizedJob: parent.ParameterizedJob,
      Version: 0,
      JobModifyIndex: 0,
      CreateIndex: 0,
    });
    expect(child.TaskGroups).toEqual(parent.TaskGroups);
    expect(isParameterized(parent)).toBe(true);
    expect(isParameterized(child)).toBe(false);
    expect(dispatchedJob(parent, "x", req({ priority: 80 })).Priority).toBe(80);
  });
});
