import { ErrorCode, RucheError } from "../structs/index.js";

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; path?: string; details?: unknown };
}

/**
 * The answer for anything a handler threw: a `RucheError` with the status of its code in
 * `ERROR_STATUS` (structs/errors.ts, the one table), anything else a 500 that says no more
 * than "internal error" (the HTTP server logs what it was).
 */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof RucheError) {
    const e: ErrorBody["error"] = { code: err.code, message: err.message };
    if (err.path !== undefined) e.path = err.path;
    if (err.details !== undefined) e.details = err.details;
    return { status: err.status, body: { error: e } };
  }
  return { status: 500, body: { error: { code: ErrorCode.Internal, message: "internal error" } } };
}
