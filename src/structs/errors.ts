/**
 * Errors with stable codes. The HTTP edge maps each code to a status in one table;
 * the CLI prints the message. Expected outcomes (a node that does not fit, a job
 * file with mistakes) are values, not exceptions; these are for what stops a request.
 */
export const ErrorCode = {
  InvalidJob: "RUCHE_INVALID_JOB",
  JobParse: "RUCHE_JOB_PARSE",
  JobNotFound: "RUCHE_JOB_NOT_FOUND",
  IndexConflict: "RUCHE_INDEX_CONFLICT",
  BadRequest: "RUCHE_BAD_REQUEST",
  Forbidden: "RUCHE_FORBIDDEN",
  NotFound: "RUCHE_NOT_FOUND",
  Internal: "RUCHE_INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class RucheError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; path?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RucheError";
    this.code = code;
    this.path = options?.path;
  }
}
