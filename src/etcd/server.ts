import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { Logger } from "../structs/index.js";
import { authorityFixer } from "./authority.js";
import { EtcdApi, ETCD_CLUSTER_VERSION, ETCD_VERSION, type EtcdApiOptions, type Method } from "./api.js";
import { EtcdError, httpStatusOf } from "./errors.js";
import type { Caller } from "./kv.js";

const PROTO_DIR = fileURLToPath(new URL("./proto/", import.meta.url));
const PROTO_FILES = ["rpc.proto", "v3lock.proto", "v3election.proto"];
/** The services served, by their full names. */
const SERVICES = ["etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Lease", "etcdserverpb.Cluster", "etcdserverpb.Maintenance", "etcdserverpb.Auth", "v3lockpb.Lock", "v3electionpb.Election"];

/** The gRPC wire: bytes as Buffers, int64 as decimal strings, enums by name, oneofs named. */
const GRPC_SHAPE = { keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] };
/** grpc-gateway's JSON (etcd's): field names as in the protos, bytes base64, int64 as strings, defaults left out. */
const JSON_SHAPE = { keepCase: true, longs: String, enums: String, bytes: String, defaults: false, oneofs: false, includeDirs: [PROTO_DIR] };

/** The gateway's paths (etcd's `google.api.http` bindings) → the method they call. */
const GATEWAY: Record<string, string> = {
  "/v3/kv/range": "etcdserverpb.KV/Range",
  "/v3/kv/put": "etcdserverpb.KV/Put",
  "/v3/kv/deleterange": "etcdserverpb.KV/DeleteRange",
  "/v3/kv/txn": "etcdserverpb.KV/Txn",
  "/v3/kv/compaction": "etcdserverpb.KV/Compact",
  "/v3/watch": "etcdserverpb.Watch/Watch",
  "/v3/lease/grant": "etcdserverpb.Lease/LeaseGrant",
  "/v3/lease/revoke": "etcdserverpb.Lease/LeaseRevoke",
  "/v3/kv/lease/revoke": "etcdserverpb.Lease/LeaseRevoke",
  "/v3/lease/keepalive": "etcdserverpb.Lease/LeaseKeepAlive",
  "/v3/lease/timetolive": "etcdserverpb.Lease/LeaseTimeToLive",
  "/v3/kv/lease/timetolive": "etcdserverpb.Lease/LeaseTimeToLive",
  "/v3/lease/leases": "etcdserverpb.Lease/LeaseLeases",
  "/v3/kv/lease/leases": "etcdserverpb.Lease/LeaseLeases",
  "/v3/cluster/member/list": "etcdserverpb.Cluster/MemberList",
  "/v3/maintenance/status": "etcdserverpb.Maintenance/Status",
  "/v3/maintenance/alarm": "etcdserverpb.Maintenance/Alarm",
  "/v3/auth/authenticate": "etcdserverpb.Auth/Authenticate",
  "/v3/auth/status": "etcdserverpb.Auth/AuthStatus",
  "/v3/lock/lock": "v3lockpb.Lock/Lock",
  "/v3/lock/unlock": "v3lockpb.Lock/Unlock",
  "/v3/election/campaign": "v3electionpb.Election/Campaign",
  "/v3/election/proclaim": "v3electionpb.Election/Proclaim",
  "/v3/election/leader": "v3electionpb.Election/Leader",
  "/v3/election/observe": "v3electionpb.Election/Observe",
  "/v3/election/resign": "v3electionpb.Election/Resign",
};

/** The preface an HTTP/2 client with prior knowledge opens with (gRPC over plain TCP). */
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\n");
/** A TLS record of type handshake: what a TLS client sends first. */
const TLS_HANDSHAKE = 0x16;
/** A connection that does not finish its TLS handshake within this is closed (ms). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** What plain bytes on the TLS port are answered, as etcd (Go's TLS server) answers them, before the connection is closed. */
const PLAIN_ON_TLS = Buffer.from("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
/** The largest gateway request body read. */
const MAX_BODY = 4 * 1024 * 1024;

/** The listener's TLS, PEM texts: etcd's --cert-file, --key-file, --trusted-ca-file and --client-cert-auth. */
export interface EtcdListenerTls {
  cert: string;
  key: string;
  /** The CA a client certificate must be signed by. */
  ca: string;
  /** Refuse a connection without a client certificate signed by `ca` (etcd's --client-cert-auth); otherwise one is asked for but may be left out. */
  requireClientCert: boolean;
}

export interface EtcdListenerOptions extends Omit<EtcdApiOptions, "clientUrl"> {
  host: string;
  /** 0: any free port. */
  port: number;
  /** Serve over TLS only: plain bytes are answered 400 and the connection closed. Absent: plain gRPC and HTTP. */
  tls?: EtcdListenerTls;
  /** etcd's v2 keys API (`etcdV2`), for the paths it serves (/v2/..., /version). Absent: /v2/ answers 404 saying so. */
  v2?: { serves(path: string): boolean; handle(req: IncomingMessage, res: ServerResponse): void };
}

export interface RunningEtcd {
  /** host:port */
  address: string;
  port: number;
  api: EtcdApi;
  /** Over TLS: the certificate, key and CA new connections are served with (a server's certificate issued again after a CA rotation). */
  setTls?: (tls: { cert: string; key: string; ca?: string }) => void;
  close(): Promise<void>;
}

/** A request's token: etcd's `token` metadata (its clients), or `authorization` ("Bearer x" or the token alone). */
function tokenOf(values: (string | undefined)[]): string | undefined {
  for (const v of values) {
    const t = v?.trim();
    if (t === undefined || t === "") continue;
    const m = /^bearer\s+(\S+)$/i.exec(t);
    return m?.[1] ?? t;
  }
  return undefined;
}

function metadataToken(md: grpc.Metadata): string | undefined {
  const one = (k: string): string | undefined => {
    const v = md.get(k)[0];
    return typeof v === "string" ? v : v?.toString("utf8");
  };
  return tokenOf([one("token"), one("authorization")]);
}

/**
 * etcd's listener: one TCP port for gRPC (HTTP/2 with prior knowledge, as etcdctl and the
 * etcd3 client connect) and HTTP/1.1 (the JSON gateway under /v3/, /version, /health and
 * the v2 keys API under /v2/). The first bytes of a connection tell which: HTTP/2's
 * preface goes to the gRPC server, anything else to the HTTP server. With `tls`, the same
 * over TLS only (`tlsFront`).
 */
export async function startEtcd(opts: EtcdListenerOptions): Promise<RunningEtcd> {
  let url = "";
  const api = new EtcdApi({ ...opts, clientUrl: () => url });
  const grpcDef = protoLoader.loadSync(PROTO_FILES, GRPC_SHAPE);
  const jsonDef = protoLoader.loadSync(PROTO_FILES, JSON_SHAPE);
  const log = opts.log;

  const server = new grpc.Server({ "grpc.max_receive_message_length": 2 * 1024 * 1024 + 512 });
  for (const svc of SERVICES) {
    const def = grpcDef[svc] as grpc.ServiceDefinition;
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [name, md] of Object.entries(def)) impl[name] = grpcHandler(api, api.methods.get(`${svc}/${name}`), `${svc}/${name}`, md, log);
    server.addService(def, impl);
  }
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());

  const http = createHttpServer((req, res) => {
    handleHttp(api, grpcDef, jsonDef, opts, req, res).catch((err: unknown) => {
      log.warn({ err }, "an etcd gateway request failed");
      if (!res.headersSent) sendError(res, EtcdApi.asEtcdError(err));
      else res.destroy();
    });
  });

  const sockets = new Set<Socket>();
  // A connection (plain, or TLS once its handshake is done) goes by its first bytes: HTTP/2's preface to gRPC, the rest to HTTP.
  const route = (socket: Socket): void => {
    // A client gone before its first bytes is no error of the agent's; once handed on, the server it went to handles its errors.
    const gone = (): void => { socket.destroy(); };
    socket.on("error", gone);
    socket.once("readable", () => {
      socket.off("error", gone);
      const first = socket.read(Math.min(H2_PREFACE.length, socket.readableLength)) as Buffer | null;
      if (first === null) {
        socket.destroy();
        return;
      }
      socket.unshift(first);
      if (H2_PREFACE.subarray(0, first.length).equals(first)) injector.injectConnection(authorityFixer(socket));
      else http.emit("connection", socket);
    });
  };
  const secure = opts.tls === undefined ? undefined : tlsFront(opts.tls, route, log);
  let servedCa = opts.tls?.ca ?? "";
  const tcp = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // A gRPC answer is several small writes (headers, data, trailers): without this, Nagle's algorithm holds the last until the client's delayed ACK, some 40 ms a call.
    socket.setNoDelay(true);
    if (secure === undefined) {
      route(socket);
      return;
    }
    // Over TLS, never plain: a connection that does not open with a TLS handshake is answered 400 and closed.
    const quiet = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS);
    socket.on("error", () => undefined);
    socket.once("close", () => { clearTimeout(quiet); });
    socket.once("data", (first: Buffer) => {
      clearTimeout(quiet);
      socket.pause();
      if (first[0] !== TLS_HANDSHAKE) {
        socket.end(PLAIN_ON_TLS);
        return;
      }
      socket.unshift(first);
      secure.emit("connection", socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(opts.port, opts.host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const addr = tcp.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : opts.port;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  url = `${secure === undefined ? "http" : "https"}://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${port}`;
  return {
    address: `${host}:${port}`,
    port,
    api,
    ...(secure === undefined
      ? {}
      : {
          setTls: (next: { cert: string; key: string; ca?: string }) => {
            // Without a CA given, the one served so far stays the one client certificates are checked against.
            if (next.ca !== undefined) servedCa = next.ca;
            secure.setSecureContext({ cert: next.cert, key: next.key, ca: servedCa });
          },
        }),
    close: async () => {
      api.close();
      injector.destroy();
      server.forceShutdown();
      for (const s of sockets) s.destroy();
      http.close();
      secure?.close();
      await new Promise<void>((resolve) => tcp.close(() => { resolve(); }));
    },
  };
}

/**
 * The TLS side of the listener (etcd's --cert-file/--key-file/--trusted-ca-file, and
 * --client-cert-auth as `requireClientCert`), fed the connections that open with a TLS
 * handshake. ALPN: `http/1.1` when the client offers it (curl, Go's HTTP clients: the
 * gateway and the v2 API), else `h2` (gRPC clients offer only it); a client offering
 * neither is refused. A client certificate is asked for: where one is required, a client
 * without one signed by the CA fails the handshake; elsewhere one that is given must
 * verify, or the connection is closed (Go's VerifyClientCertIfGiven).
 */
function tlsFront(tls: EtcdListenerTls, route: (socket: Socket) => void, log: Logger): ReturnType<typeof createTlsServer> {
  const server = createTlsServer(
    {
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      requestCert: true,
      rejectUnauthorized: tls.requireClientCert,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      minVersion: "TLSv1.2",
      ALPNCallback: ({ protocols }) => (protocols.includes("http/1.1") ? "http/1.1" : protocols.includes("h2") ? "h2" : undefined),
    },
    (socket: TLSSocket) => {
      if (!socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) {
        log.debug({ address: socket.remoteAddress, reason: String(socket.authorizationError) }, "an etcd client's certificate is not trusted: the connection is closed");
        socket.destroy();
        return;
      }
      route(socket);
    },
  );
  server.on("tlsClientError", (err, socket) => {
    log.debug({ err, address: socket.remoteAddress }, "an etcd client's TLS handshake failed");
  });
  return server;
}

type Md = grpc.MethodDefinition<unknown, unknown>;

/** A gRPC handler for a method: its implementation, or UNIMPLEMENTED saying so. */
function grpcHandler(api: EtcdApi, m: Method | undefined, name: string, md: Md, log: Logger): grpc.UntypedHandleCall {
  const fail = (err: unknown): grpc.ServerErrorResponse => {
    const e = EtcdApi.asEtcdError(err);
    if (e.code === grpc.status.UNKNOWN) log.warn({ err, method: name }, "an etcd call failed");
    return Object.assign(new Error(e.message), { code: e.code, details: e.message });
  };
  if (!md.requestStream && !md.responseStream) {
    return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const ac = new AbortController();
      call.on("cancelled", () => { ac.abort(); });
      void (async () => {
        try {
          if (m?.kind !== "unary") throw EtcdError.unimplemented(name);
          const c = api.caller(metadataToken(call.metadata));
          callback(null, await m.run(c, call.request, ac.signal));
        } catch (err) {
          callback(fail(err));
        }
      })();
    };
  }
  return (call: grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) => {
    const ac = new AbortController();
    const stop = (): void => { ac.abort(); };
    call.on("cancelled", stop);
    call.on("close", stop);
    const failCall = (err: unknown): void => {
      if (ac.signal.aborted) return;
      ac.abort();
      call.emit("error", fail(err));
    };
    try {
      if (m?.kind !== "stream") throw EtcdError.unimplemented(name);
      const c = api.caller(metadataToken(call.metadata));
      const send = (r: unknown): void => {
        if (!ac.signal.aborted) call.write(r);
      };
      const s = m.open(c, send, ac.signal, failCall);
      if (md.requestStream) {
        call.on("data", (req: unknown) => {
          try {
            s.request(req);
          } catch (err) {
            failCall(err);
          }
        });
        call.on("end", () => {
          stop();
          call.end();
        });
      } else {
        s.request((call as grpc.ServerWritableStream<unknown, unknown>).request);
      }
    } catch (err) {
      failCall(err);
    }
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** grpc-gateway's error body. */
function sendError(res: ServerResponse, e: EtcdError): void {
  sendJson(res, httpStatusOf(e.code), { error: e.message, code: e.code, message: e.message });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    const b = c as Buffer;
    n += b.length;
    if (n > MAX_BODY) throw EtcdError.invalid(`etcdserver: request body over ${MAX_BODY} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** The HTTP/1.1 face: the JSON gateway, /version, /health, and /v2/ to the v2 keys API. */
async function handleHttp(api: EtcdApi, grpcDef: protoLoader.PackageDefinition, jsonDef: protoLoader.PackageDefinition, opts: EtcdListenerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  if (opts.v2?.serves(path) === true) { opts.v2.handle(req, res); return; }
  if (path.startsWith("/v2/")) { sendJson(res, 404, { errorCode: 404, message: "etcd's v2 API is not served here" }); return; }
  if (path === "/version") { sendJson(res, 200, { etcdserver: ETCD_VERSION, etcdcluster: ETCD_CLUSTER_VERSION }); return; }
  if (path === "/health" || path === "/readyz" || path === "/livez") {
    if (path === "/health") { sendJson(res, 200, { health: "true", reason: "" }); return; }
    res.writeHead(200, { "content-type": "text/plain" });
    return void res.end("ok");
  }
  const name = GATEWAY[path];
  if (name === undefined) { sendJson(res, 404, { error: "Not Found", code: 5, message: "Not Found" }); return; }
  if (req.method !== "POST") {
    res.setHeader("allow", "POST");
    sendJson(res, 405, { error: "Method Not Allowed", code: 12, message: "Method Not Allowed" }); return;
  }
  const [svc, method] = name.split("/") as [string, string];
  const g = (grpcDef[svc] as grpc.ServiceDefinition)[method] as Md;
  const j = (jsonDef[svc] as grpc.ServiceDefinition)[method] as Md;
  const raw = await readBody(req);
  let json: unknown;
  try {
    json = raw.length === 0 ? {} : JSON.parse(raw.toString("utf8"));
  } catch {
    sendError(res, EtcdError.invalid("etcdserver: the request body is not JSON")); return;
  }
  let request: unknown;
  try {
    // JSON → the wire → the gRPC shape: protobuf's own conversion, base64 bytes and all.
    request = g.requestDeserialize(j.requestSerialize(json));
  } catch (err) {
    sendError(res, EtcdError.invalid(`etcdserver: the request body does not fit ${svc}.${method}'s request: ${err instanceof Error ? err.message : String(err)}`)); return;
  }
  const toJson = (r: unknown): unknown => j.responseDeserialize(g.responseSerialize(r));
  const m = api.methods.get(name);
  let c: Caller;
  try {
    if (m === undefined) throw EtcdError.unimplemented(name);
    c = api.caller(tokenOf([headerOf(req, "authorization"), headerOf(req, "x-consul-token"), headerOf(req, "x-ruche-token")]));
  } catch (err) {
    sendError(res, EtcdApi.asEtcdError(err)); return;
  }
  const ac = new AbortController();
  res.on("close", () => { ac.abort(); });
  if (m.kind === "unary") {
    try {
      sendJson(res, 200, toJson(await m.run(c, request, ac.signal)));
    } catch (err) {
      sendError(res, EtcdApi.asEtcdError(err));
    }
    return;
  }
  // A stream: grpc-gateway's newline-delimited {"result": ...}, from the one request in the body.
  res.writeHead(200, { "content-type": "application/json" });
  const send = (r: unknown): void => {
    if (!ac.signal.aborted) res.write(`${JSON.stringify({ result: toJson(r) })}\n`);
  };
  const failStream = (err: unknown): void => {
    const e = EtcdApi.asEtcdError(err);
    res.end(`${JSON.stringify({ error: { grpc_code: e.code, http_code: httpStatusOf(e.code), message: e.message, http_status: "" } })}\n`);
    ac.abort();
  };
  try {
    const s = m.open(c, send, ac.signal, failStream);
    s.request(request);
    // A lease keep-alive answers once; the others stream until the client goes.
    if (name === "etcdserverpb.Lease/LeaseKeepAlive") res.end();
  } catch (err) {
    failStream(err);
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

