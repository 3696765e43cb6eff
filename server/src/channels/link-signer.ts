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
    try {
      const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as LinkPayload;
      if (payload.e !== undefined && payload.e < nowSeconds) return undefined;
      return payload;
    } catch {
      return undefined;
    }
  }

  url(path: string, payload: LinkPayload): string {
    return `${this.baseUrl.replace(/\/$/, '')}${path}/${this.sign(payload)}`;
  }

  private mac(body: string): string {
    return linkMac(this.secret, body);
  }
}
