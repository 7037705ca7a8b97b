export { identityClaims } from "./claims.js";
export { jwks, KeyCache, newSigningKey } from "./keys.js";
export { JWT_ALGORITHM, looksLikeJwt, publicKeyFromJwk, signJwt, verifyJwt, type JwtRefusal, type Signer, type Verified } from "./jwt.js";
