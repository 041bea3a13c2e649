import { createHmac, timingSafeEqual } from 'node:crypto';
import { NetunnelError } from './errors.js';

/**
 * JSON Web Tokens signed with HMAC-SHA256 (RFC 7519), the only kind the shared-secret
 * auth plugin makes or accepts. Any other algorithm is refused, so a token cannot pick a
 * weaker check for itself (e.g. "alg": "none").
 */

const HEADER = encode({ alg: 'HS256', typ: 'JWT' });

export type JwtClaims = Record<string, unknown>;

export function signJwt(claims: JwtClaims, secret: string): string {
  const signed = `${HEADER}.${encode(claims)}`;
  return `${signed}.${signature(signed, secret)}`;
}

/** The claims of a token this secret signed; throws NetunnelError('INVALID_TOKEN') otherwise. Expiry is the caller's to check. */
export function verifyJwt(token: string, secret: string): JwtClaims {
  const [header, payload, mac, ...rest] = token.split('.');
  if (header === undefined || payload === undefined || mac === undefined || rest.length > 0) throw invalid('not a JWT');
  if (decode(header).alg !== 'HS256') throw invalid('only HS256 tokens are accepted');
  const expected = Buffer.from(signature(`${header}.${payload}`, secret));
  const given = Buffer.from(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('bad signature');
  return decode(payload);
}

/** The claims without checking the signature: for a client reading its own token's expiry. */
export function readJwtClaims(token: string): JwtClaims {
  const payload = token.split('.')[1];
  if (payload === undefined) throw invalid('not a JWT');
  return decode(payload);
}

function signature(signed: string, secret: string): string {
  return createHmac('sha256', secret).update(signed).digest('base64url');
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decode(part: string): JwtClaims {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not a JWT');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('not a JWT');
  return value as JwtClaims;
}

function invalid(reason: string): NetunnelError {
  return new NetunnelError('INVALID_TOKEN', `invalid token: ${reason}`);
}
