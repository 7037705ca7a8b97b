import { checkServerIdentity } from "node:tls";
import { Agent, buildConnector, fetch as undiciFetch, type Dispatcher } from "undici";
import type { DialTls } from "../structs/index.js";

/**
 * The connections of a client of an agent over TLS: the server's certificate must chain to
 * `tls.ca` and name the host dialled (or `tls.serverName`; only the chain with
 * `verifyHostname: false`); `tls.cert` and `tls.key` are shown to the server (mutual TLS).
 * The agent's API, a server forwarding to the leader, a router following the catalog: each
 * dials through one of these. Given a function, each new connection asks it for the TLS to
 * use: a renewed certificate is shown from the next connection on.
 */
export function tlsDispatcher(tls: DialTls | (() => DialTls), o: Agent.Options = {}): Agent {
  if (typeof tls === "function") {
    // Each new connection takes the TLS given now (a renewed certificate); those open keep theirs.
    return new Agent({
      ...o,
      connect: (opts, cb) => {
        buildConnector(connectOptions(tls()))(opts, cb);
      },
    });
  }
  return new Agent({ ...o, connect: connectOptions(tls) });
}

function connectOptions(tls: DialTls): buildConnector.BuildOptions {
  const names = tls.serverName === undefined ? [] : typeof tls.serverName === "string" ? [tls.serverName] : tls.serverName;
  const connect = {
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    ...(names[0] === undefined ? {} : { servername: names[0] }),
    ...(tls.verifyHostname === false ? { checkServerIdentity: () => undefined } : names.length === 0 ? {} : { checkServerIdentity: (_host: string, cert: Parameters<typeof checkServerIdentity>[1]) => anyName(names, cert) }),
  };
  return connect;
}

/** Whether the certificate names one of `names`: undefined when it does, else the error for the first. */
function anyName(names: readonly string[], cert: Parameters<typeof checkServerIdentity>[1]): Error | undefined {
  const errors = names.map((n) => checkServerIdentity(n, cert));
  return errors.some((e) => e === undefined) ? undefined : errors[0];
}

/**
 * The fetch of an API client over one undici dispatcher. undici's Response is the one
 * Node's own fetch is built on (a newer copy of the same class): what the client reads of
 * it (status, headers, text, body) is the same.
 */
export function fetchOver(dispatcher: Dispatcher): (url: URL, init: RequestInit) => Promise<Response> {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- see above
  return (url, init) => undiciFetch(url, { ...(init as unknown as Parameters<typeof undiciFetch>[1]), dispatcher });
}
