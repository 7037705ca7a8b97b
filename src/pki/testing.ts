import { connect, createServer } from "node:tls";

/** Tests' helper: whether a client (checking the server's certificate for `servername`) trusting `clientTrusts` and showing `client` completes a mutual-TLS handshake with a server showing `server` that trusts `serverTrusts`; what the client read ("ok"), or why not. */
export async function handshake(server: { cert: string; key: string }, serverTrusts: string, client: { cert: string; key: string }, clientTrusts: string, servername = "server.global.ruche"): Promise<string> {
  const srv = createServer({ ...server, ca: serverTrusts, requestCert: true, rejectUnauthorized: true }, (s) => s.end("ok"));
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  try {
    const port = (srv.address() as { port: number }).port;
    return await new Promise((resolve) => {
      let data = "";
      const sock = connect({ host: "127.0.0.1", port, ...client, ca: clientTrusts, servername });
      sock.on("data", (d: Buffer) => (data += d.toString()));
      sock.on("end", () => {
        resolve(data === "" ? "closed" : data);
      });
      sock.on("error", (err: Error) => {
        resolve(err.message);
      });
    });
  } finally {
    srv.close();
  }
}
