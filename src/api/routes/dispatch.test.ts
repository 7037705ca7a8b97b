import { describe, expect, it } from "vitest";
import { dispatchRequestOf } from "./dispatch.js";

describe("a dispatch request body (Nomad's JobDispatchRequest)", () => {
  it("reads the payload as base64, the meta, the ID prefix template and the priority; null and absent are empty", () => {
    const r = dispatchRequestOf({ JobID: "report", Payload: Buffer.from("hello").toString("base64"), Meta: { size: "3" }, IdPrefixTemplate: "nightly", Priority: 70 }, "report");
    expect(Buffer.from(r.payload).toString()).toBe("hello");
    expect(r).toMatchObject({ meta: { size: "3" }, idPrefixTemplate: "nightly", priority: 70 });
    expect(dispatchRequestOf({ Payload: null, Meta: null }, "report")).toEqual({ payload: new Uint8Array(), meta: {}, idPrefixTemplate: "", priority: 0 });
    expect(dispatchRequestOf(undefined, "report").payload).toHaveLength(0);
  });

  it("refuses a body that does not say what it should, naming the field", () => {
    expect(() => dispatchRequestOf({ JobID: "other" }, "report")).toThrow("Job ID does not match");
    expect(() => dispatchRequestOf({ Payload: "not base64!" }, "report")).toThrow(/Payload must be base64/);
    expect(() => dispatchRequestOf({ Meta: { n: 3 } }, "report")).toThrow("Meta.n must be a string, got number");
    expect(() => dispatchRequestOf([], "report")).toThrow(/the body must be/);
  });
});
