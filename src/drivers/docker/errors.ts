/**
 * The docker driver's errors. A task runner shows `message` to the user as the task event,
 * so each message says what to do; `code` is stable for callers that branch on it.
 */
export const DockerErrorCode = {
  /** DOCKER_HOST or the driver's options do not name an engine we can dial. */
  BadEndpoint: "RUCHE_DOCKER_BAD_ENDPOINT",
  /** The task's config cannot be turned into a container. */
  BadConfig: "RUCHE_DOCKER_BAD_CONFIG",
  /** The image is not on this node and pulling it failed. */
  ImageUnavailable: "RUCHE_DOCKER_IMAGE_UNAVAILABLE",
  /** A container with the task's name exists and is not this task's. */
  NameTaken: "RUCHE_DOCKER_NAME_TAKEN",
  /** The engine refused or failed a request. */
  Engine: "RUCHE_DOCKER_ENGINE",
  /** The handle does not name a container this driver can act on. */
  BadHandle: "RUCHE_DOCKER_BAD_HANDLE",
  /** A signal name we do not know. */
  BadSignal: "RUCHE_DOCKER_BAD_SIGNAL",
  /** The container is not running (signal, exec). */
  NotRunning: "RUCHE_DOCKER_NOT_RUNNING",
  /** The driver was closed while the call waited. */
  Closed: "RUCHE_DOCKER_CLOSED",
} as const;
export type DockerErrorCode = (typeof DockerErrorCode)[keyof typeof DockerErrorCode];

export class DockerError extends Error {
  readonly code: DockerErrorCode;

  constructor(code: DockerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DockerError";
    this.code = code;
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
  const msg = err instanceof Error ? err.message.trim() : String(err);
  return /^\(HTTP code \d+\) [^-]*- (.+)$/s.exec(msg)?.[1]?.trim() ?? msg;
}
