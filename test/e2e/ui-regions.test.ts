/**
 * The dashboard across regions, in a real browser (Debian's chromium through playwright-core):
 * two single-server regions, `europe` (europe-west1) and `us` (us-west-2), each its own agent
 * process with TLS and ACLs off, europe started with `-retry-join-wan` naming us's API. On
 * the dashboard europe serves, the header's region switcher lists both, europe chosen; choosing
 * `us` puts `?region=us` in the URL, and every request (the event stream's too) carries it: the
 * jobs page shows the job registered in us only, a reload stays in us, choosing europe again
 * takes the region off the URL. The Servers page lists both servers, each its region's
 * leader, and shows us's server failed, without a reload, once it is killed. A multiregion job's
 * page shows its deployment in each region (europe's running, us's pending). Screenshots go to
 * test-results/ui/.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient } from "../../src/apiclient/index.js";
import { parseJob } from "../../src/jobspec/index.js";
import type { Job } from "../../src/structs/index.js";
import { type AgentProcess, built, newest, NO_ACL_NO_TLS, root, startAgentProcess, until } from "./harness.js";

const SHOTS = join(root, "test-results", "ui");

let dir = "";
let europe: AgentProcess | undefined;
let us: AgentProcess | undefined;
let browser: Browser | undefined;
let page: Page;
/** The URLs of the API requests the page sent. */
const sent: string[] = [];

function regionArgs(name: string, region: string, dc: string): string[] {
  return [...NO_ACL_NO_TLS, "-server", "-bind", "127.0.0.1", "-http-port", "0", "-consul-port", "0", "-dns-port", "-1", "-region", region, "-datacenter", dc, "-node", name, "-data-dir", join(dir, name)];
}

/** A batch job of one group, for `dc`: a server with no node keeps it pending, listed all the same. */
async function job(id: string, dc: string): Promise<Job> {
  const r = await parseJob(`job "${id}" {\n  datacenters = ["${dc}"]\n  type = "batch"\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config {\n        command = "/bin/true"\n      }\n    }\n  }\n}\n`, { file: `${id}.hcl` });
  if (!r.ok) throw new Error(`the test job does not parse: ${JSON.stringify(r.diagnostics)}`);
  return r.job;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const switcher = (): ReturnType<Page["getByRole"]> => page.getByRole("combobox", { name: "Region" });

/** The jobs the jobs page lists, by name. */
async function listedJobs(): Promise<string[]> {
  return (await page.getByRole("table", { name: "Jobs" }).getByRole("link").allTextContents()).sort();
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // The dashboard's build, made again only when a source is newer (as test/e2e/ui.test.ts does).
  if (newest(join(root, "src/ui")) > built(join(root, "dist/ui/index.html"))) {
    await promisify(execFile)(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build", "--config", "src/ui/vite.config.ts"], { cwd: root });
  }
  dir = mkdtempSync(join(tmpdir(), "ruche-ui-regions-e2e-"));
  us = await startAgentProcess(regionArgs("us1", "us", "us-west-2"));
  europe = await startAgentProcess([...regionArgs("eu1", "europe", "europe-west1"), "-retry-join-wan", us.address]);
  const eu = europe;
  await until("europe knows us", async () => {
    const res = await fetch(`http://${eu.address}/v1/regions`);
    return ((await res.json()) as string[]).includes("us") ? true : undefined;
  }, 20_000);
  await new ApiClient(us.address).register(await job("only-in-us", "us-west-2"));
  await new ApiClient(europe.address).register(await job("only-in-europe", "europe-west1"));
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  page.on("request", (r) => {
    if (new URL(r.url()).pathname.startsWith("/v1/")) sent.push(r.url());
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const a of [europe, us]) await a?.stop(10_000);
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("the dashboard of two regions", () => {
  it("lists both regions in the header, the serving server's chosen, and shows its region's jobs", async () => {
    await page.goto(`http://${(europe as AgentProcess).address}/ui/jobs`);
    await switcher().waitFor();
    await expect.poll(() => switcher().locator("option").allTextContents()).toEqual(["europe", "us"]);
    expect(await switcher().inputValue()).toBe("europe");
    await expect.poll(listedJobs, { timeout: 15_000 }).toEqual(["only-in-europe"]);
    await page.getByText("live", { exact: true }).waitFor();
    // A narrow window: the header with its switcher wraps, nothing runs off the side.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    await shot("regions-narrow");
    await page.setViewportSize({ width: 1280, height: 860 });
  }, 60_000);

  it("switching to us shows us's jobs, every request asking for us, the event stream's too; a reload stays in us", async () => {
    await page.evaluate("window.ruchePageMark = 1");
    const from = sent.length;
    await switcher().selectOption("us");
    await expect.poll(() => new URL(page.url()).search).toBe("?region=us");
    expect(new URL(page.url()).pathname).toBe("/ui/jobs");
    await expect.poll(listedJobs, { timeout: 15_000 }).toEqual(["only-in-us"]);
    await page.getByText("live", { exact: true }).waitFor();
    // Switched in the page, not by a reload.
    expect(await page.evaluate("window.ruchePageMark")).toBe(1);
    const after = sent.slice(from).map((u) => new URL(u));
    expect(after.some((u) => u.pathname === "/v1/event/stream" && u.searchParams.get("region") === "us")).toBe(true);
    expect(after.find((u) => u.pathname === "/v1/jobs")?.searchParams.get("region")).toBe("us");
    expect(after.filter((u) => u.searchParams.get("region") === null)).toEqual([]);
    await shot("regions-us-jobs");

    // Links keep the region; a reload lands in us again.
    const link = page.getByRole("link", { name: "only-in-us" });
    expect(new URL(await link.getAttribute("href") ?? "", page.url()).searchParams.get("region")).toBe("us");
    await link.click();
    await page.getByRole("heading", { name: "only-in-us" }).waitFor();
    expect(new URL(page.url()).searchParams.get("region")).toBe("us");
    await page.reload();
    await page.getByRole("heading", { name: "only-in-us" }).waitFor();
    expect(await switcher().inputValue()).toBe("us");
  }, 60_000);

  it("choosing the serving server's region takes ?region= off the URL", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
    await expect.poll(listedJobs, { timeout: 15_000 }).toEqual(["only-in-us"]);
    await switcher().selectOption("europe");
    await expect.poll(() => page.url()).toBe(`http://${(europe as AgentProcess).address}/ui/jobs`);
    await expect.poll(listedJobs, { timeout: 15_000 }).toEqual(["only-in-europe"]);
  }, 60_000);

  it("a multiregion job's page shows its deployment in each region: europe's running, us's pending for its turn", async () => {
    const eu = europe as AgentProcess;
    const src = `job "across" {
  multiregion {
    strategy {
      max_parallel = 1
    }
    region "europe" {
      datacenters = ["europe-west1"]
    }
    region "us" {
      datacenters = ["us-west-2"]
    }
  }
  update {
    max_parallel = 1
  }
  group "g" {
    count = 0
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }
}
`;
    const r = await parseJob(src, { file: "across.hcl" });
    if (!r.ok) throw new Error(`the test job does not parse: ${JSON.stringify(r.diagnostics)}`);
    await new ApiClient(eu.address).register(r.job);
    await page.goto(`http://${eu.address}/ui/jobs/across`);
    const table = page.locator('[data-multiregion="across"]');
    await table.waitFor({ timeout: 20_000 });
    // Europe's turn first (its servers have no node: it runs, placing nothing); us waits.
    await expect.poll(() => table.locator('tr[data-region="europe"] .badge').textContent(), { timeout: 20_000 }).toBe("running");
    await expect.poll(() => table.locator('tr[data-region="us"] .badge').textContent(), { timeout: 20_000 }).toBe("pending");
    expect(await table.locator('tr[data-region="us"]').textContent()).toContain("Deployment is pending, waiting for peer region");
    await shot("regions-multiregion-job");
  }, 60_000);

  it("the Servers page lists both regions' servers, each its region's leader, with the round trip to the other region; a killed one turns failed without a reload", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Servers" }).click();
    expect(new URL(page.url()).pathname).toBe("/ui/servers");
    const table = page.getByRole("table", { name: "Federation servers" });
    const eu1 = table.locator('tr[data-member="eu1.europe"]');
    const us1 = table.locator('tr[data-member="us1.us"]');
    await expect.poll(() => table.locator("tbody tr").count(), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => eu1.getAttribute("data-leader"), { timeout: 15_000 }).toBe("true");
    await expect.poll(() => us1.getAttribute("data-leader"), { timeout: 15_000 }).toBe("true");
    expect(await eu1.getAttribute("data-status")).toBe("alive");
    expect(await us1.getAttribute("data-status")).toBe("alive");
    expect((await eu1.locator("td").allTextContents()).slice(4, 6)).toEqual(["europe-west1", "europe"]);
    expect((await us1.locator("td").allTextContents()).slice(4, 6)).toEqual(["us-west-2", "us"]);
    expect(await eu1.locator("td").nth(1).textContent()).toBe((europe as AgentProcess).address);
    // Measured from europe (the region shown) to us's server; none to europe's own.
    await expect.poll(() => us1.locator("td").nth(7).textContent(), { timeout: 20_000 }).toMatch(/^\d+(\.\d)? (ms|s)$/);
    expect(await eu1.locator("td").nth(7).textContent()).toBe("same region");
    await shot("regions-servers");

    await page.evaluate("window.ruchePageMark = 2");
    await (us as AgentProcess).crash();
    await expect.poll(() => us1.getAttribute("data-status"), { timeout: 45_000 }).toBe("failed");
    // us has no server to ask who leads it: said, not guessed.
    await expect.poll(() => us1.getAttribute("data-leader"), { timeout: 15_000 }).toBe("undefined");
    expect(await us1.locator("td").nth(7).textContent()).toBe("—");
    expect(await eu1.getAttribute("data-status")).toBe("alive");
    expect(await page.evaluate("window.ruchePageMark")).toBe(2);
    await shot("regions-servers-us-failed");
  }, 90_000);
});
