import { ErrorCode, neverSent, tlsHandshakeFailed } from "../structs/index.js";

/**
 * How long one request may go on moving between servers before it gives up (ms): longer
 * than a leader election (a new leader within 3 s), so that a write sent while there is
 * none is answered once there is one.
 */
export const DEFAULT_RETRY_BUDGET_MS = 5000;
/** How long an attempt that is safe to repeat waits for an answer's head before trying the next server (ms). */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;
/** A blocking query's attempt waits for its `wait` and this much more before giving up on its server (ms). */
export const BLOCKING_MARGIN_MS = 10_000;

/**
 * The servers one client talks to, and the one it talks to now: every request goes to the
 * current server; one that fails moves the client to the next. Shared by the clients
 * derived from one another (`withNodeSecret`), so that they move together.
 */
export class ServerList {
  readonly addresses: readonly string[];
  private cur: number;

  /** `scheme`: what an address without one (`host:port`) is reached with. */
  constructor(addresses: readonly string[], start = 0, scheme: "http" | "https" = "http") {
    if (addresses.length === 0) throw new Error("an API client needs at least one server address");
    this.addresses = addresses.map((a) => baseUrl(a, scheme));
    this.cur = ((start % addresses.length) + addresses.length) % addresses.length;
  }

  /** The position of the current server. */
  get current(): number {
    return this.cur;
  }

  /** The current server's base URL. */
  get address(): string {
    return this.addresses[this.cur] ?? "";
  }

  /**
   * The server at `i` failed: the next one becomes current, unless another request has
   * already moved on from it (two requests failing at once must not skip a good server).
   */
  failed(i: number): void {
    if (this.cur === i) this.cur = (i + 1) % this.addresses.length;
  }
}

/** `host:port` (reached with `scheme`) or a URL, as a base URL without the trailing slash. */
export function baseUrl(address: string, scheme: "http" | "https" = "http"): string {
  return /^https?:\/\//.test(address) ? address.replace(/\/$/, "") : `${scheme}://${address}`;
}

/**
 * Why an attempt failed, as failover sees it:
 * - `unsent`: no connection was made (refused, no route, name unknown, connect timeout):
 *   the server never saw the request, any request may go to the next server;
 * - `cut`: the connection broke, or no answer came in time, after the request was sent:
 *   it may have been applied, only a request safe to repeat goes to the next server;
 * - `refused`: the server answered 503 RUCHE_NO_LEADER: no leader, so nothing of the
 *   request was applied; any request may go elsewhere (503 RUCHE_UNAVAILABLE, an agent
 *   shutting down with the request under way, is `cut`: it may have been applied);
 * - `final`: anything else, the answer to give the caller.
 */
export type AttemptFailure = "unsent" | "cut" | "refused" | "final";

/** The failure class of an error thrown by fetch (the cause carries the socket's code); a TLS handshake refused sent nothing. */
export function fetchFailure(err: unknown): AttemptFailure {
  return neverSent(err) || tlsHandshakeFailed(err) ? "unsent" : "cut";
}

/** The failure class of an answer that is not 2xx. */
export function answerFailure(status: number, code: string): AttemptFailure {
  if (status !== 503) return "final";
  return code === ErrorCode.NoLeader ? "refused" : code === ErrorCode.Unavailable ? "cut" : "final";
}

/** Whether an attempt that failed so may be made again on the next server. */
export function mayRetry(f: AttemptFailure, idempotent: boolean): boolean {
  switch (f) {
    case "unsent":
    case "refused":
      return true;
    case "cut":
      return idempotent;
    case "final":
      return false;
    default: {
      const never: never = f;
      return never;
    }
  }
}

/** The pause after a whole round of servers failed (ms): 100, 200, 400, … up to 1 s. */
export function roundBackoff(round: number): number {
  return Math.min(1000, 100 * 2 ** Math.max(0, round - 1));
}

/** A blocking query's `wait` ("30s", "500ms", "5m", or seconds) in ms; the API's 5 minutes when absent. */
export function waitMs(wait: string | undefined): number {
  if (wait === undefined) return 5 * 60_000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(wait.trim());
  if (m === null) return 5 * 60_000;
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
}
