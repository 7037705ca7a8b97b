import { status } from "@grpc/grpc-js";

/**
 * A refusal of an etcd request: a gRPC status code and etcd's words (`rpctypes`'s
 * "etcdserver: ..."), which the gRPC face sends as the call's status and the JSON gateway as
 * grpc-gateway's body `{ "error", "code", "message" }` with the HTTP status it maps the code to.
 */
export class EtcdError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }

  static invalid(message: string): EtcdError {
    return new EtcdError(status.INVALID_ARGUMENT, message);
  }
  static outOfRange(message: string): EtcdError {
    return new EtcdError(status.OUT_OF_RANGE, message);
  }
  static notFound(message: string): EtcdError {
    return new EtcdError(status.NOT_FOUND, message);
  }
  static failedPrecondition(message: string): EtcdError {
    return new EtcdError(status.FAILED_PRECONDITION, message);
  }
  static unimplemented(what: string): EtcdError {
    return new EtcdError(status.UNIMPLEMENTED, `etcdserver: ${what} is not implemented by Ruche's etcd API (src/etcd/README.md lists what is)`);
  }
  static denied(): EtcdError {
    return new EtcdError(status.PERMISSION_DENIED, "etcdserver: permission denied");
  }
  static unauthenticated(message: string): EtcdError {
    return new EtcdError(status.UNAUTHENTICATED, message);
  }
}

/** The HTTP status grpc-gateway answers a gRPC code with (`runtime.HTTPStatusFromCode`). */
export function httpStatusOf(code: status): number {
  switch (code) {
    case status.OK:
      return 200;
    case status.CANCELLED:
      return 408;
    case status.INVALID_ARGUMENT:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
      return 400;
    case status.DEADLINE_EXCEEDED:
      return 504;
    case status.NOT_FOUND:
      return 404;
    case status.ALREADY_EXISTS:
    case status.ABORTED:
      return 409;
    case status.PERMISSION_DENIED:
      return 403;
    case status.UNAUTHENTICATED:
      return 401;
    case status.RESOURCE_EXHAUSTED:
      return 429;
    case status.UNIMPLEMENTED:
      return 501;
    case status.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}
