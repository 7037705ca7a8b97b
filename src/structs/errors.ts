/**
 * Errors with stable codes. Every code Ruche answers with is in `ErrorCode`, and its HTTP
 * status is beside it in `ERROR_STATUS`: a new kind of error (401 without a token, 503
 * without a leader, a request for another region) is one line in each, and a misspelt
 * code does not type-check. The HTTP edge turns a `RucheError` into its status and the
 * body `{ "error": { "code", "message", "path"?, "details"? } }`; the CLI prints the
 * message. Expected outcomes (a node that does not fit, a job file with mistakes) are
 * values, not exceptions; these are for what stops a request.
 */
export const ErrorCode = {
  /** The request is malformed: a parameter, a header, a field of the body. */
  BadRequest: "RUCHE_BAD_REQUEST",
  /** The body is not JSON. */
  BadJson: "RUCHE_BAD_JSON",
  /** A job that parsed but does not hold together (validation). */
  InvalidJob: "RUCHE_INVALID_JOB",
  /** A job file that does not parse. */
  JobParse: "RUCHE_JOB_PARSE",
  /** No credentials where some are needed. */
  Unauthorized: "RUCHE_UNAUTHORIZED",
  /** Credentials that do not allow this. */
  Forbidden: "RUCHE_FORBIDDEN",
  NotFound: "RUCHE_NOT_FOUND",
  JobNotFound: "RUCHE_JOB_NOT_FOUND",
  /** A node agent speaks for a node the servers do not know (they lost it, or it was purged): it registers again. */
  NodeNotRegistered: "RUCHE_NODE_NOT_REGISTERED",
  MethodNotAllowed: "RUCHE_METHOD_NOT_ALLOWED",
  /** A compare-on-index or on a version failed: someone wrote first. */
  IndexConflict: "RUCHE_INDEX_CONFLICT",
  /** The thing is not in a state that allows this (exec into a task that is not running). */
  Conflict: "RUCHE_CONFLICT",
  /** A request body over the limit. */
  TooLarge: "RUCHE_TOO_LARGE",
  /** A bug or a failure of ours; logged with its stack where it is answered. */
  Internal: "RUCHE_INTERNAL",
  /** The agent cannot answer now: it is shutting down. */
  Unavailable: "RUCHE_UNAVAILABLE",
  /**
   * The servers have no leader now (an election under way, etcd's quorum lost), or this
   * server stopped leading while it wrote: nothing of the write was kept; try again.
   */
  NoLeader: "RUCHE_NO_LEADER",
  /**
   * The data dir cannot take the write: its filesystem is full, read-only or failing (the
   * message says which, and names the path). Nothing of the refused write was kept.
   */
  InsufficientStorage: "RUCHE_INSUFFICIENT_STORAGE",
  /** Another agent we forward to did not answer, or answered with a failure. */
  BadGateway: "RUCHE_BAD_GATEWAY",
  /** The address of an agent could not be reached at all (said by clients, never answered). */
  Unreachable: "RUCHE_UNREACHABLE",
  /** A request for a region no server of this federation knows (Nomad's "No path to region"). */
  NoRegionPath: "RUCHE_NO_REGION_PATH",

  /** The docker driver: DOCKER_HOST or the driver's options do not name an engine we can dial. */
  DockerBadEndpoint: "RUCHE_DOCKER_BAD_ENDPOINT",
  /** The task's config cannot be turned into a container. */
  DockerBadConfig: "RUCHE_DOCKER_BAD_CONFIG",
  /** The image is not on this node and pulling it failed. */
  DockerImageUnavailable: "RUCHE_DOCKER_IMAGE_UNAVAILABLE",
  /** A container with the task's name exists and is not this task's. */
  DockerNameTaken: "RUCHE_DOCKER_NAME_TAKEN",
  /** The engine refused or failed a request. */
  DockerEngine: "RUCHE_DOCKER_ENGINE",
  /** The handle does not name a container the driver can act on. */
  DockerBadHandle: "RUCHE_DOCKER_BAD_HANDLE",
  /** A signal name the driver does not know. */
  DockerBadSignal: "RUCHE_DOCKER_BAD_SIGNAL",
  /** The container is not running (signal, exec). */
  DockerNotRunning: "RUCHE_DOCKER_NOT_RUNNING",
  /** The driver was closed while the call waited. */
  DockerClosed: "RUCHE_DOCKER_CLOSED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The HTTP status of each code: the one table the HTTP edge answers from. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  RUCHE_BAD_REQUEST: 400,
  RUCHE_BAD_JSON: 400,
  RUCHE_INVALID_JOB: 400,
  RUCHE_JOB_PARSE: 400,
  RUCHE_UNAUTHORIZED: 401,
  RUCHE_FORBIDDEN: 403,
  RUCHE_NOT_FOUND: 404,
  RUCHE_JOB_NOT_FOUND: 404,
  RUCHE_NODE_NOT_REGISTERED: 404,
  RUCHE_METHOD_NOT_ALLOWED: 405,
  RUCHE_INDEX_CONFLICT: 409,
  RUCHE_CONFLICT: 409,
  RUCHE_TOO_LARGE: 413,
  RUCHE_INTERNAL: 500,
  RUCHE_UNAVAILABLE: 503,
  RUCHE_NO_LEADER: 503,
  RUCHE_INSUFFICIENT_STORAGE: 507,
  RUCHE_BAD_GATEWAY: 502,
  RUCHE_UNREACHABLE: 502,
  // Nomad answers 500; the request names a region nobody knows, which asking again will not mend.
  RUCHE_NO_REGION_PATH: 400,
  RUCHE_DOCKER_BAD_ENDPOINT: 500,
  RUCHE_DOCKER_BAD_CONFIG: 400,
  RUCHE_DOCKER_IMAGE_UNAVAILABLE: 502,
  RUCHE_DOCKER_NAME_TAKEN: 409,
  RUCHE_DOCKER_ENGINE: 502,
  // A handle is the agent's own record, never the request's: a bad one is ours.
  RUCHE_DOCKER_BAD_HANDLE: 500,
  RUCHE_DOCKER_BAD_SIGNAL: 400,
  RUCHE_DOCKER_NOT_RUNNING: 409,
  RUCHE_DOCKER_CLOSED: 503,
};

export interface RucheErrorOptions {
  cause?: unknown;
  /** Where in the request the problem is: a query parameter, a header, a body field (`TaskGroups[0].Count`). */
  path?: string | undefined;
  /** Structured detail a client can act on (a job file's diagnostics). */
  details?: unknown;
  /**
   * Already logged where it arose: the store logs a full disk once per episode, not once per
   * refused write, so the HTTP edge answers such an error without logging it again.
   */
  logged?: boolean;
}

/**
 * An error with a code of the table. Not generic, so that `err instanceof RucheError` gives
 * a `code` of type `ErrorCode` (a generic class narrows to `RucheError<any>`); a subclass
 * narrows its codes with `declare readonly code: ...` (the docker driver's `DockerError`).
 */
export class RucheError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly details: unknown;
  /** See `RucheErrorOptions.logged`. */
  readonly logged: boolean;

  constructor(code: ErrorCode, message: string, options?: RucheErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RucheError";
    this.code = code;
    this.path = options?.path;
    this.details = options?.details;
    this.logged = options?.logged ?? false;
  }

  /** The HTTP status this error is answered with, from `ERROR_STATUS`. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** Whether `code` is one of ours: for a code read off the wire. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_STATUS, code);
}

/** The codes of connection errors (Node's and undici's) for which a request never left: the connection did not open. */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "UND_ERR_CONNECT_TIMEOUT"]);

/**
 * Whether an HTTP request failed before it left (nothing can have been applied): its error,
 * or the error's cause (fetch wraps the socket's), carries a code of a connection that never
 * opened.
 */
export function neverSent(err: unknown): boolean {
  const code = errorCode(err) ?? errorCode((err as { cause?: unknown } | null)?.cause);
  return code !== undefined && NEVER_SENT_CODES.has(code);
}

/** The code of an error, ours or one read off the wire (an `ApiError`), if it carries one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/** What to show a person of anything thrown: an Error's message, or the thing itself as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The end of an exhaustive switch: `default: return assertNever(x)` stops type-checking
 * when a member is added to the union, and throws if a value outside it arrives anyway.
 */
export function assertNever(x: never, what = "value"): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
