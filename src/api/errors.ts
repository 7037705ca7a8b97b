import { ErrorCode, RucheError } from "../structs/index.js";

/** One table from error codes to HTTP status codes. */
const STATUS: Readonly<Record<ErrorCode, number>> = {
  RUCHE_INVALID_JOB: 400,
  RUCHE_JOB_PARSE: 400,
  RUCHE_BAD_REQUEST: 400,
  RUCHE_FORBIDDEN: 403,
  RUCHE_JOB_NOT_FOUND: 404,
  RUCHE_NOT_FOUND: 404,
  RUCHE_INDEX_CONFLICT: 409,
  RUCHE_INTERNAL: 500,
};

/** A request the edge refuses before any handler: too large, malformed, unauthorized. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly path?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function errorResponse(err: unknown): { status: number; body: { error: { code: string; message: string; path?: string; details?: unknown } } } {
  if (err instanceof HttpError) {
    const e: { code: string; message: string; path?: string; details?: unknown } = { code: err.code, message: err.message };
    if (err.path !== undefined) e.path = err.path;
    if (err.details !== undefined) e.details = err.details;
    return { status: err.status, body: { error: e } };
  }
  if (err instanceof RucheError) {
    const e: { code: string; message: string; path?: string } = { code: err.code, message: err.message };
    if (err.path !== undefined) e.path = err.path;
    return { status: STATUS[err.code], body: { error: e } };
  }
  return { status: 500, body: { error: { code: ErrorCode.Internal, message: "internal error" } } };
}
