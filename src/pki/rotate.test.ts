import { X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { caDigest, checkNodeCert, ClusterCa, createKeyAndCsr, issueServerCert, signCsr } from "./index.js";
import { handshake } from "./testing.js";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function nodeCert(ca: ClusterCa, name: string): Promise<{ cert: string; key: string }> {
  const { csrPem, keyPem } = await createKeyAndCsr({ region: "global", role: "client", name });
  return { cert: (await signCsr(ca.ca(), csrPem, { region: "global", role: "client", name })) + ca.chain(), key: keyPem };
}

describe("rotating the cluster CA", () => {
  it("signs with a new CA cross-signed by the old: agents on either root keep talking while they renew", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ruche-rotate-"));
    dirs.push(dir);
    const { ca } = await ClusterCa.open(dir, "global");
    const oldRoot = ca.ca().certPem;
    const oldServer = await issueServerCert(ca.ca(), { region: "global", name: "s1" });
    const oldNode = await nodeCert(ca, "old-node");
    expect(ca.trusted()).toEqual([oldRoot]);

    const { digest } = await ca.rotate();
    expect(digest).not.toBe(caDigest(oldRoot));
    expect(ca.trusted()).toEqual([ca.ca().certPem, oldRoot]);
    const cross = new X509Certificate(ca.chain());
    expect(cross.ca).toBe(true);
    expect(cross.subject).toBe(ca.ca().cert.subject);
    expect(cross.checkIssued(new X509Certificate(oldRoot))).toBe(true);
    expect(cross.verify(new X509Certificate(oldRoot).publicKey)).toBe(true);

    const newNode = await nodeCert(ca, "new-node");
    const both = ca.trusted().join("");
    // A node still trusting only the old root accepts a server whose certificate is of the new CA (through the cross-signed one)...
    const newServer = await issueServerCert(ca.ca(), { region: "global", name: "s1" });
    expect(await handshake({ cert: newServer.certPem + ca.chain(), key: newServer.keyPem }, both, oldNode, oldRoot)).toBe("ok");
    // ...and a server still on the old certificate accepts a node of the new CA, trusting both.
    expect(await handshake({ cert: oldServer.certPem, key: oldServer.keyPem }, both, newNode, both)).toBe("ok");
    expect(checkNodeCert(oldNode.cert, ca.trusted()).ok).toBe(true);
    expect(checkNodeCert(newNode.cert, ca.trusted()).ok).toBe(true);

    // Read back from the data dir, it is where it was.
    const { ca: again, created } = await ClusterCa.open(dir, "global");
    expect(created).toBe(false);
    expect(again.digest()).toBe(digest);
    expect(again.trusted()).toEqual(ca.trusted());
    expect(again.chain()).toBe(ca.chain());

    // Once every agent has renewed, the old root goes.
    await again.finish();
    expect(again.trusted()).toEqual([again.ca().certPem]);
    expect(checkNodeCert(oldNode.cert, again.trusted()).ok).toBe(false);
    expect((await ClusterCa.open(dir, "global")).ca.trusted()).toHaveLength(1);
  });
});
