import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Logger } from "../structs/index.js";
import { dashboardServer } from "./dashboard.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

describe("the router's dashboard", () => {
  it("answers a failure of its own with 500 and logs it once at error level, with the error", async () => {
    const errors: Record<string, unknown>[] = [];
    const log: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (f) => errors.push(f) };
    const broken = new Error("the workers did not answer");
    const server = dashboardServer({ overview: () => Promise.reject(broken), prometheus: () => "" }, log);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => server.close());
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/overview`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe("500 the workers did not answer\n");
    expect(errors).toEqual([{ err: broken, method: "GET", route: "/api/overview" }]);
  });
});
