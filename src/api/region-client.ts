import { request } from "undici";
import type { ClusterView, Federation } from "../server/index.js";
import { ErrorCode, errorMessage, neverSent, RucheError, tlsFailure, tlsHandshakeFailed } from "../structs/index.js";
import { FEDERATION_FORWARDED, NO_REGION_PATH } from "./federation-forward.js";
import { isWrite, PLAIN_HTTP, type Dial } from "./forward.js";

/** An answer of another region's server: its status and its body, parsed when JSON. */
export interface RegionAnswer {
  status: number;
  body: unknown;
}

export interface RegionCall {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** Path and query, as sent. */
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Default 10 s. */
  timeoutMs?: number;
}

/** Sends one request to a live server of another region (its leader when known) and reads its whole answer. */
export type RegionClient = (region: string, call: RegionCall) => Promise<RegionAnswer>;

/**
 * A server's requests of its own to another region's servers (a multiregion job's copies, its
 * deployments' states): to `federation.serverIn(region)`, over the dial that region is reached
 * with, marked as sent across the federation so that it is never sent on. Rejects with Nomad's
 * `No path to region` when no server of the region is known (400) or none answers (503), and
 * says whether a write may have been made when the server went away before answering.
 */
export function regionClient(federation: Federation, cluster: ClusterView, dialFor: (region: string) => Dial | undefined): RegionClient {
  return async (region, call) => {
    const server = federation.serverIn(region);
    if (server === undefined) {
      const known = federation.members().some((m) => m.Region === region);
      throw new RucheError(known ? ErrorCode.Unavailable : ErrorCode.NoRegionPath, `${NO_REGION_PATH} "${region}": ${known ? "none of its servers answers" : "no server of it is known"}`, { path: "region" });
    }
    const dial = dialFor(region) ?? PLAIN_HTTP;
    const self = cluster.self;
    const who = `${server.Name} (${server.HTTPAddr}) of region ${region}`;
    let text: string;
    let status: number;
    try {
      const res = await request(`${dial.scheme}://${server.HTTPAddr}${call.path}`, {
        ...(dial.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }),
        method: call.method,
        headers: { ...call.headers, [FEDERATION_FORWARDED]: `${self.Name}.${self.Region}`, ...(call.body === undefined ? {} : { "content-type": "application/json" }) },
        body: call.body === undefined ? null : JSON.stringify(call.body),
        signal: AbortSignal.timeout(call.timeoutMs ?? 10_000),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (neverSent(err) || tlsHandshakeFailed(err)) throw new RucheError(ErrorCode.BadGateway, `${who} could not be reached: ${tlsFailure(err) ?? errorMessage(err)}; nothing was sent`, { cause: err });
      const maybe = isWrite(call.method) ? "; the write may have been made there" : "";
      throw new RucheError(ErrorCode.BadGateway, `${who} did not answer ${call.method} ${call.path}: ${errorMessage(err)}${maybe}`, { cause: err });
    }
    let body: unknown = text;
    try {
      body = text === "" ? null : (JSON.parse(text) as unknown);
    } catch {
      // A plain-text answer (a refusal) stays text.
    }
    return { status, body };
  };
}

/** The words of a refusal another region's server answered: its JSON error's message, or its text. */
export function refusalText(answer: RegionAnswer): string {
  const b = answer.body;
  if (typeof b === "string") return b.trim();
  if (typeof b === "object" && b !== null) {
    const e = b as { error?: unknown; message?: unknown; Error?: unknown };
    for (const v of [e.message, e.error, e.Error]) {
      if (typeof v === "string") return v;
      if (typeof v === "object" && v !== null && typeof (v as { message?: unknown }).message === "string") return (v as { message: string }).message;
    }
  }
  return JSON.stringify(b);
}
