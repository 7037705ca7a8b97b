import { errorMessage, RucheError, type ErrorCode } from "../../structs/index.js";

/**
 * The docker driver's codes: the `RUCHE_DOCKER_*` entries of the one table in
 * structs/errors.ts (`ErrorCode.DockerNotRunning`, ...), which holds their HTTP status too.
 */
export type DockerErrorCode = Extract<ErrorCode, `RUCHE_DOCKER_${string}`>;

/**
 * The docker driver's errors. A task runner shows `message` to the user as the task event,
 * so each message says what to do; `code` is stable for callers that branch on it, and the
 * HTTP API answers with its status (a container that is not running: 409).
 */
export class DockerError extends RucheError {
  declare readonly code: DockerErrorCode;

  constructor(code: DockerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "DockerError";
  }
}

/** The HTTP status of a failed engine request (docker-modem puts it on the error), if any. */
export function engineStatus(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null || !("statusCode" in err)) return undefined;
  const code = err.statusCode;
  return typeof code === "number" ? code : undefined;
}

/**
 * The engine's own words for a failed request. docker-modem's message is
 * "(HTTP code 404) no such container - No such container: abc "; the JSON body's `message`
 * is the part a user can act on.
 */
export function engineMessage(err: unknown): string {
  if (typeof err === "object" && err !== null && "json" in err) {
    const body = err.json;
    if (typeof body === "object" && body !== null && "message" in body && typeof body.message === "string") return body.message;
  }
  const msg = errorMessage(err).trim();
  return /^\(HTTP code \d+\) [^-]*- (.+)$/s.exec(msg)?.[1]?.trim() ?? msg;
}
