export { caFromPem, caPaths, createCa, loadOrCreateCa, privateDir, writePrivate, BACKDATE_MS, CA_TTL_MS, type Ca } from "./ca.js";
export { certInfo, checkNodeCert, isServerCert, x509, type CertCheck, type CertInfo } from "./cert-info.js";
export { createKeyAndCsr, csrPublicKey } from "./csr.js";
export { caDigest } from "./digest.js";
export { checkName, isNodeRole, nomadServerName, NodeRole, parseSpiffeUri, serverName, spiffeUri, type NodeIdentity } from "./identity.js";
export { issueServerCert, signCsr, NODE_CERT_TTL_MS, SERVER_CERT_TTL_MS } from "./issue.js";
export { hashJoinSecret, JOIN_TOKEN_PREFIX, newJoinToken, parseJoinToken, secretMatches } from "./join-token.js";
export { pemBlocks, splitCerts, toPem } from "./pem.js";
export { ClusterCa, crossSign } from "./rotate.js";
