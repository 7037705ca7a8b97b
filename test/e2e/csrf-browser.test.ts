/**
 * A developer runs `ruche agent -dev` and visits a web page of another site in a real
 * browser (headless Chromium). The page posts a job to the agent as `text/plain` with
 * fetch, and as a form: the agent refuses both (403) and runs nothing. The dashboard, served
 * by the agent, still writes (test/e2e/ui.test.ts clicks through its writes).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgentProcess, until, type AgentProcess } from "./harness.js";

let agent: AgentProcess | undefined;
let evil: Server | undefined;
let evilPort = 0;
let browser: Browser | undefined;

const job = (id: string): string => JSON.stringify({ Job: { ID: id, Name: id, Datacenters: ["dc1"], TaskGroups: [{ Name: "g", Count: 1, Tasks: [{ Name: "t", Driver: "raw_exec", Config: { command: "/bin/true" } }] }] } });

/** The other site's page: a fetch of a "simple" POST, then the same as a form that submits itself. */
function page(target: string): string {
  const body = job("from-fetch");
  const form = job("from-form");
  const name = form.slice(0, form.indexOf("=") + 1);
  const value = form.slice(name.length);
  return `<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="${target}/v1/jobs"><input type="hidden" name='${name}' value='${value}'></form>
<script>
fetch(${JSON.stringify(`${target}/v1/jobs`)}, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body: ${JSON.stringify(body)} })
  .finally(() => document.getElementById("f").submit());
</script></body></html>`;
}

beforeAll(async () => {
  const a = await startAgentProcess(["-dev", "-http-port", "0", "-consul-port", "0", "-dns-port", "0", "-router-port", "-1", "-router-dashboard-port", "-1"]);
  agent = a;
  const site = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(page(`http://${a.address}`));
  });
  evil = site;
  await new Promise<void>((resolve) => site.listen(0, "127.0.0.1", resolve));
  evilPort = (site.address() as AddressInfo).port;
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => evil?.close(() => { resolve(); }));
  await agent?.stop();
});

/** How many POST /v1/jobs the agent answered, by status, from its metrics. */
async function jobPosts(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${agentAddress()}/v1/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ruche_http_requests_total\{method="POST",route="\/v1\/jobs",code="(\d+)"\} (\d+)$/gm)) out[m[1] ?? ""] = Number(m[2]);
  return out;
}

function agentAddress(): string {
  if (agent === undefined) throw new Error("the agent did not start");
  return agent.address;
}

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

describe("a web page of another site, in the developer's browser", () => {
  for (const host of ["localhost", "127.0.0.1"]) {
    it(`cannot register a job on the dev agent (page on ${host}, ${host === "localhost" ? "another site" : "the same host, another port"})`, async () => {
      const before = await jobPosts();
      if (browser === undefined) throw new Error("the browser did not start");
      const tab = await browser.newPage();
      // The headers the browser sent, as it sent them (security headers included).
      const sent: Promise<{ origin: string | undefined; site: string | undefined }>[] = [];
      tab.on("request", (r) => {
        if (r.url().endsWith("/v1/jobs")) sent.push(r.allHeaders().then((h) => ({ origin: h.origin, site: h["sec-fetch-site"] })));
      });
      await tab.goto(`http://${host}:${evilPort}/`);
      // Both writes reached the agent (its own count says so), and both were refused.
      const after = await until("the fetch and the form to reach the agent", async () => {
        const now = await jobPosts();
        return total(now) >= total(before) + 2 ? now : undefined;
      });
      expect(after).toEqual({ ...before, "403": (before["403"] ?? 0) + 2 });
      await tab.close();
      // What the browser says it sent with the form (it does not show a no-cors fetch's security headers).
      const headers = await Promise.all(sent);
      expect(headers).toHaveLength(2);
      expect(headers).toContainEqual({ origin: `http://${host}:${evilPort}`, site: host === "localhost" ? "cross-site" : "same-site" });
      const jobs = (await (await fetch(`http://${agentAddress()}/v1/jobs`)).json()) as unknown[];
      expect(jobs).toEqual([]);
    });
  }
});
