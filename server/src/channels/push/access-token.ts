/**
 * Per-user access tokens for what browsers call on a person's behalf (push subscriptions, the in-app
 * inbox): a LinkSigner token of kind `i` naming the workspace, the person and an expiry. Issued by the
 * app's backend through the admin API (`POST /api/users/:userId/access-token`) and handed to its
 * front end; Herald keeps no state for them.
 */
import { UnauthorizedError } from '../../http/http-errors';
import type { LinkSigner } from '../link-signer';

/** A week by default; at most a year. */
export const ACCESS_TOKEN_TTL_SECONDS = 7 * 24 * 3600;
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 365 * 24 * 3600;

export interface AccessGrant {
  workspace: string;
  /** Identity key (`user:<id>`). */
  person: string;
  expiresAt: string;
}

export function issueAccessToken(signer: LinkSigner, grant: { workspace: string; person: string; now: Date; ttlSeconds?: number }): { token: string; expiresAt: string } {
  const expiry = Math.floor(grant.now.getTime() / 1000) + (grant.ttlSeconds ?? ACCESS_TOKEN_TTL_SECONDS);
  return { token: signer.sign({ k: 'i', w: grant.workspace, p: grant.person, e: expiry }), expiresAt: new Date(expiry * 1000).toISOString() };
}

/** The grant of a valid, unexpired access token; undefined for anything else (other link kinds included). */
export function verifyAccessToken(signer: LinkSigner, token: string, now: Date): AccessGrant | undefined {
  const payload = signer.verify(token, Math.floor(now.getTime() / 1000));
  // Only the exact token issued: base64url decoding of the MAC alone would ignore a stray trailing character.
  if (!payload || signer.sign(payload) !== token) return undefined;
  if (payload.k !== 'i' || payload.e === undefined || typeof payload.w !== 'string' || typeof payload.p !== 'string') return undefined;
  return { workspace: payload.w, person: payload.p, expiresAt: new Date(payload.e * 1000).toISOString() };
}

/** `Authorization: Bearer <access token>` → the grant, or 401. */
export function grantFromBearer(signer: LinkSigner, authorization: string | undefined, now: Date): AccessGrant {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) throw new UnauthorizedError('Authorization: Bearer <access token> is required (POST /api/users/:userId/access-token issues one)');
  const grant = verifyAccessToken(signer, match[1], now);
  if (!grant) throw new UnauthorizedError('The access token is not valid or has expired');
  return grant;
}
