import { connect } from "node:net";
import { NS, type ServiceCheck } from "../structs/index.js";

export type CheckStatus = "passing" | "warning" | "critical";

export interface CheckResult {
  status: CheckStatus;
  output: string;
  /** The HTTP status code an http check was answered with; absent for others. */
  statusCode?: number;
}

/** Runs a script check inside the task; resolves with its exit code and output. */
export type ScriptRunner = (cmd: string[], timeoutMs: number) => Promise<{ exitCode: number; output: string; timedOut: boolean }>;

/** Where an http or tcp check connects. */
export interface CheckTarget {
  ip: string;
  port: number;
}

/**
 * One probe of a check, by its type. Never throws: a failure is a critical result.
 * `address` is a registered check's own: the whole URL of an http check, host:port of a tcp one.
 */
export async function probe(check: ServiceCheck, target: CheckTarget | null, script: ScriptRunner | null, address?: string): Promise<CheckResult> {
  const timeoutMs = Math.max(1, check.Timeout / NS.millisecond);
  switch (check.Type) {
    case "http": {
      if (target === null && address === undefined) return { status: "critical", output: "no address for the check's port" };
      const path = check.Path.startsWith("/") ? check.Path : `/${check.Path}`;
      const url = address ?? (target === null ? "" : `${check.Protocol === "https" ? "https" : "http"}://${target.ip.includes(":") ? `[${target.ip}]` : target.ip}:${target.port}${path}`);
      try {
        const headers: Record<string, string> = {};
        for (const [k, vs] of Object.entries(check.Header)) headers[k] = vs.join(", ");
        const r = await fetch(url, { method: check.Method === "" ? "GET" : check.Method, headers, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
        const body = (await r.text()).slice(0, 4096);
        const output = `HTTP ${check.Method === "" ? "GET" : check.Method} ${url}: ${r.status} ${r.statusText} Output: ${body}`;
        if (r.status >= 200 && r.status < 300) return { status: "passing", output, statusCode: r.status };
        if (r.status === 429) return { status: "warning", output, statusCode: r.status };
        return { status: "critical", output, statusCode: r.status };
      } catch (err) {
        return { status: "critical", output: `HTTP ${url}: ${errText(err)}` };
      }
    }
    case "tcp": {
      const at = address === undefined ? target : hostPort(address);
      if (at === null) return { status: "critical", output: "no address for the check's port" };
      return tcpProbe(at, timeoutMs);
    }
    case "script": {
      if (script === null) return { status: "critical", output: "the task is not running" };
      try {
        const r = await script([check.Command, ...check.Args], timeoutMs);
        if (r.timedOut) return { status: "critical", output: `timed out after ${timeoutMs}ms` };
        return { status: r.exitCode === 0 ? "passing" : r.exitCode === 1 ? "warning" : "critical", output: r.output.slice(0, 4096) };
      } catch (err) {
        return { status: "critical", output: errText(err) };
      }
    }
    case "ttl":
      return { status: initialStatus(check), output: "" };
    default: {
      const _: never = check.Type;
      return { status: "critical", output: `unknown check type ${String(_)}` };
    }
  }
}

function tcpProbe(target: CheckTarget, timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const addr = `${target.ip}:${target.port}`;
    const sock = connect({ host: target.ip, port: target.port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ status: "critical", output: `TCP connect ${addr}: timed out` });
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ status: "passing", output: `TCP connect ${addr}: Success` });
    });
    sock.once("error", (err) => {
      clearTimeout(timer);
      resolve({ status: "critical", output: `TCP connect ${addr}: ${err.message}` });
    });
  });
}

export function initialStatus(check: ServiceCheck): CheckStatus {
  return check.InitialStatus === "passing" || check.InitialStatus === "warning" ? check.InitialStatus : "critical";
}

/**
 * A check's status over time, against flapping: it turns passing only after
 * `SuccessBeforePassing` passing probes in a row, and critical only after
 * `FailuresBeforeCritical` failing ones (Consul's thresholds); in between it keeps its
 * status. Pure: feed it probe results.
 */
export class CheckState {
  status: CheckStatus;
  output = "";
  /** The last probe's HTTP status code (0: none), and when it was recorded (Unix ms; 0: never probed). */
  statusCode = 0;
  checkedAt = 0;
  private successes = 0;
  private failures = 0;

  constructor(private readonly check: ServiceCheck) {
    this.status = initialStatus(check);
  }

  /** Returns whether the status changed. `atMs` is when the probe ended. */
  record(r: CheckResult, atMs = 0): boolean {
    const before = this.status;
    this.output = r.output;
    this.statusCode = r.statusCode ?? 0;
    this.checkedAt = atMs;
    if (r.status === "passing") {
      this.failures = 0;
      this.successes++;
      if (this.successes >= Math.max(1, this.check.SuccessBeforePassing)) this.status = "passing";
    } else if (r.status === "warning") {
      this.successes = 0;
      this.failures = 0;
      this.status = "warning";
    } else {
      this.successes = 0;
      this.failures++;
      if (this.failures >= Math.max(1, this.check.FailuresBeforeCritical)) this.status = "critical";
    }
    return this.status !== before;
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

function hostPort(address: string): CheckTarget | null {
  const i = address.lastIndexOf(":");
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) return null;
  return { ip: address.slice(0, i).replace(/^\[|\]$/g, ""), port };
}
