import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import type { ApiWire, ListenerTls } from "../api/index.js";
import { tlsDispatcher } from "../apiclient/index.js";
import { ErrorCode, errorMessage, isServerPeer, RucheError, serverHostnames, type DialTls } from "../structs/index.js";

/**
 * An agent's TLS, as its config says it: Nomad's `tls` block with the operator's files, or
 * (TLS on without them) the cluster's own PKI (`ClusterTls`, resolved into files by
 * `resolveClusterTls`); `{ enabled: false }` is plain HTTP said on purpose (`tls { enabled = false }`).
 */
export type AgentTls = { enabled: false } | AgentTlsFiles | ClusterTls;

/**
 * TLS from the cluster's own PKI: a server takes its certificate from the cluster CA in its
 * data dir; a client joins with a join token (once; then its data dir keeps its certificate).
 */
export interface ClusterTls {
  enabled: true;
  cluster: {
    /** A client's join token (`RUCHE-1-...`), used when its data dir holds no certificate yet. */
    joinToken?: string;
    /** A server's: another region's server join token (`-join-wan-token`, `server { join_wan_token }`), with which this region's first server takes up that region's CA, the federation's one (`cluster-tls.ts`). */
    joinWanToken?: string;
  };
  verifyServerHostname: boolean;
  verifyHttpsClient: boolean;
}

/** TLS with the operator's files (Nomad's `ca_file`, `cert_file`, `key_file`). */
export interface AgentTlsFiles {
  enabled: true;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Agents dialling a server check that its certificate names `server.<region>.ruche` (or Nomad's `.nomad`), and only servers forward writes to the leader. */
  verifyServerHostname: boolean;
  /** Every request to this agent must come with a client certificate signed by the CA (the CLI too). */
  verifyHttpsClient: boolean;
}

/** What an agent with TLS on serves and dials with: its listeners' TLS, and the TLS of its clients of the servers. */
export interface AgentWire {
  /** For the API and the Consul port: HTTPS, mutual TLS, and how the server dials the others. */
  api: ApiWire;
  /** For a client-only agent's node API (its tasks' logs and exec), which only servers call: a client certificate of the CA required. */
  nodeApi: ApiWire;
  /** For the agent's clients of the servers (its node, its router): the CA, the agent's certificate, the name to check. */
  dial: DialTls;
  /** Dials, and serves on the listeners started from now on, with this certificate, key and CA (a server's certificate issued again after a CA rotation). */
  setIdentity(next: { cert: string; key: string; ca: string }): void;
  close(): Promise<void>;
}

async function pem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new RucheError(ErrorCode.BadRequest, `tls ${what} ${file}: ${errorMessage(err)}`, { cause: err, path: `tls.${what}` });
  }
}

/** Reads the agent's certificate, key and CA; a file missing, or a key that is not the certificate's, stops the agent saying which. */
export async function agentWire(tls: AgentTlsFiles, region: string): Promise<AgentWire> {
  const [ca, cert, key] = await Promise.all([pem(tls.caFile, "ca_file"), pem(tls.certFile, "cert_file"), pem(tls.keyFile, "key_file")]);
  try {
    createSecureContext({ ca, cert, key });
  } catch (err) {
    throw new RucheError(ErrorCode.BadRequest, `tls: cert_file ${tls.certFile}, key_file ${tls.keyFile} and ca_file ${tls.caFile} do not make a TLS identity: ${errorMessage(err)}`, { cause: err, path: "tls" });
  }
  const dial: DialTls = { ca, cert, key, ...(tls.verifyServerHostname ? { serverName: serverHostnames(region) } : { verifyHostname: false }) };
  // A node's agent shows a client certificate of the CA (Nomad's client.REGION.nomad), not a server's: the chain is checked.
  const apiDial = { scheme: "https" as const, dispatcher: tlsDispatcher(dial) };
  // A server of another region: always checked for `server.<region>.ruche`, whatever verify_server_hostname says (the region is what federation trusts it for); each new connection shows the certificate of now.
  const regionDials = new Map<string, { scheme: "https"; dispatcher: ReturnType<typeof tlsDispatcher> }>();
  const regionDial = (r: string): { scheme: "https"; dispatcher: ReturnType<typeof tlsDispatcher> } => {
    let d = regionDials.get(r);
    if (d === undefined) {
      d = { scheme: "https", dispatcher: tlsDispatcher(() => ({ ...dial, verifyHostname: true, serverName: serverHostnames(r) })) };
      regionDials.set(r, d);
    }
    return d;
  };
  const nodeDial = { scheme: "https" as const, dispatcher: tlsDispatcher({ ca, cert, key, verifyHostname: false }) };
  const listener: ListenerTls = {
    cert,
    key,
    ca,
    requestClientCert: true,
    requireClientCert: tls.verifyHttpsClient,
    ...(tls.verifyServerHostname ? { mayForward: (peer) => isServerPeer(peer, region) } : {}),
  };
  return {
    nodeApi: {
      tls: {
        ...listener,
        requireClientCert: true,
        // With servers' certificates told apart, only a server reaches a node's tasks (another node's certificate does not).
        ...(tls.verifyServerHostname ? { refusePeer: (peer) => (isServerPeer(peer, region) ? undefined : `only the servers call a node's API; the certificate ${peer.subject} is not a server's`) } : {}),
      },
    },
    api: {
      tls: listener,
      dial: apiDial,
      nodeDial,
      regionDial,
    },
    dial,
    setIdentity: (next) => {
      // The dial objects are the ones the forwarder and the node calls read at each request: new connections show the new certificate.
      const old = [apiDial.dispatcher, nodeDial.dispatcher];
      Object.assign(dial, next);
      // Listeners started from now on serve it too (running ones take it with their setTls).
      Object.assign(listener, next);
      apiDial.dispatcher = tlsDispatcher(dial);
      nodeDial.dispatcher = tlsDispatcher({ ...next, verifyHostname: false });
      // Closed once the requests under way on them end.
      for (const d of old) void d.close().catch(() => undefined);
    },
    close: async () => {
      await Promise.all([apiDial.dispatcher.close(), nodeDial.dispatcher.close(), ...[...regionDials.values()].map((d) => d.dispatcher.close())]);
    },
  };
}
