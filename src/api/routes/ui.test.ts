import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../structs/index.js";
import { Router, startHttp, type RunningHttp } from "../http.js";
import { uiRoutes } from "./ui.js";

/** The dashboard's files served from a build made here, over real HTTP on 127.0.0.1. */
let dir = "";
let built: RunningHttp;
let unbuilt: RunningHttp;

async function serve(uiDir: string): Promise<RunningHttp> {
  const router = new Router();
  uiRoutes(router, uiDir);
  return startHttp({ host: "127.0.0.1", port: 0, router, authorize: () => undefined, log: silentLogger });
}

/** A raw GET: the path is sent as written, `..` and all, as a hostile client would. */
function get(http: RunningHttp, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: http.port, path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ruche-ui-"));
  mkdirSync(join(dir, "ui", "assets"), { recursive: true });
  writeFileSync(join(dir, "ui", "index.html"), "<!doctype html><title>Ruche</title>");
  writeFileSync(join(dir, "ui", "assets", "index-abc123.js"), "console.log(1)");
  writeFileSync(join(dir, "secret.txt"), "not for the browser");
  built = await serve(join(dir, "ui"));
  unbuilt = await serve(join(dir, "missing"));
});

afterAll(async () => {
  await built.close();
  await unbuilt.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the dashboard's files", () => {
  it("sends / to /ui/", async () => {
    const r = await get(built, "/");
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe("/ui/");
  });

  it("serves the page at /ui, /ui/ and every client-side path, revalidated each time", async () => {
    for (const path of ["/ui", "/ui/", "/ui/jobs/web", "/ui/kv/app/config/"]) {
      const r = await get(built, path);
      expect(r.status, path).toBe(200);
      expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(r.headers["cache-control"]).toBe("no-cache");
      expect(r.headers["content-security-policy"]).toContain("default-src 'self'");
      expect(r.body).toBe("<!doctype html><title>Ruche</title>");
    }
  });

  it("serves hashed assets with their type, cached for good, and answers 304 to a known ETag", async () => {
    const r = await get(built, "/ui/assets/index-abc123.js");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(r.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(r.body).toBe("console.log(1)");
    const again = await get(built, "/ui/assets/index-abc123.js", { "if-none-match": String(r.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body).toBe("");
  });

  it("answers 404 for a missing file rather than the page", async () => {
    const r = await get(built, "/ui/assets/gone-123.js");
    expect(r.status).toBe(404);
  });

  it("never serves a file outside its folder", async () => {
    for (const path of ["/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/assets/..%2f..%2fsecret.txt", "/ui/..%2F..%2Fsecret.txt"]) {
      const r = await get(built, path);
      expect(r.body, path).not.toContain("not for the browser");
    }
  });

  it("says to run npm run build when the dashboard is not built", async () => {
    const r = await get(unbuilt, "/ui/");
    expect(r.status).toBe(503);
    expect(r.body).toContain("npm run build");
  });
});
