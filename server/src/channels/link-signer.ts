/**
 * Signed links in messages (open pixel, click redirect, unsubscribe, preferences, in-app tokens):
 * a base64url JSON payload and an HMAC-SHA256 over it, so a link cannot be forged or altered to
 * act for another person or message. The secret is `LINK_SECRET` if set, else generated once and
 * kept in the data folder (all nodes of a cluster must share it: set the variable there).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type LinkPayload, linkMac, signLinkToken } from './link-token';

export type { LinkPayload };

export class LinkSigner {
  constructor(
    /** The signing key; the SMTP thread gets it to sign tracking links (email/tracked-html.js). */
    readonly secret: Buffer,
    /** Public base URL of this Herald, e.g. https://herald.example.com (PUBLIC_URL). */
    readonly baseUrl: string,
  ) {}

  static fromDataDir(dataDir: string, baseUrl: string, envSecret?: string): LinkSigner {
    if (envSecret) return new LinkSigner(Buffer.from(envSecret, 'utf8'), baseUrl);
    const path = join(dataDir, 'secrets', 'link-signing.key');
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600 });
    }
    return new LinkSigner(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64'), baseUrl);
  }

  sign(payload: LinkPayload): string {
    return signLinkToken(this.secret, payload);
  }

  /** The payload of a valid token, or undefined for a forged, altered or expired one. */
  verify(token: string, nowSeconds = Math.floor(Date.now() / 1000)): LinkPayload | undefined {
    const dot = token.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const body = token.slice(0, dot);
    // Only the canonical encoding: base64url decoding ignores a trailing partial character, which would
    // let several strings stand for one token (and tokens name idempotent events).
    if (Buffer.from(body, 'base64url').toString('base64url') !== body) return undefined;
    if (Buffer.from(token.slice(dot + 1), 'base64url').toString('base64url') !== token.slice(dot + 1)) return undefined;
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    // Herald signs only this shape; anything else (a leaked key's forgery) is not a valid token.
    if (!isLinkPayload(payload)) return undefined;
    if (payload.e !== undefined && payload.e < nowSeconds) return undefined;
    return payload;
  }

  url(path: string, payload: LinkPayload): string {
    return `${this.baseUrl.replace(/\/$/, '')}${path}/${this.sign(payload)}`;
  }

  private mac(body: string): string {
    return linkMac(this.secret, body);
  }
}

/** Epoch seconds a Date can hold (±8.64e12), so an expiry always converts to an ISO time. */
const MAX_EXPIRY_SECONDS = 8_640_000_000_000;
const KINDS = ['o', 'c', 'u', 'p', 'i', 'f'];

function isLinkPayload(value: unknown): value is LinkPayload {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const payload = value as Record<string, unknown>;
  if (!KINDS.includes(payload.k as string) || typeof payload.w !== 'string' || typeof payload.p !== 'string') return false;
  for (const key of ['m', 'ch', 'u']) if (payload[key] !== undefined && typeof payload[key] !== 'string') return false;
  return payload.e === undefined || (Number.isSafeInteger(payload.e) && Math.abs(payload.e as number) <= MAX_EXPIRY_SECONDS);
}
