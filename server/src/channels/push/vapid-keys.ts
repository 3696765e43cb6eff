/**
 * The VAPID key pair that identifies this Herald to browsers' push services. Generated on first
 * start into DATA_DIR/secrets/vapid.json (mode 600) and reused after: subscriptions are bound to the
 * public key, so a new key would silently orphan every existing subscription. All nodes of a cluster
 * must share the file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateVAPIDKeys } from 'web-push';

export interface VapidKeys {
  /** Uncompressed P-256 point, base64url (what `applicationServerKey` takes in the browser). */
  publicKey: string;
  privateKey: string;
}

export const VAPID_KEYS = Symbol('VapidKeys');

export function vapidKeysPath(dataDir: string): string {
  return join(dataDir, 'secrets', 'vapid.json');
}

export function loadOrCreateVapidKeys(dataDir: string, now: Date = new Date()): VapidKeys {
  const path = vapidKeysPath(dataDir);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const keys = generateVAPIDKeys();
    try {
      // 'wx': if another process created the file meanwhile, keep theirs.
      writeFileSync(path, `${JSON.stringify({ ...keys, createdAt: now.toISOString() }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const stored = JSON.parse(readFileSync(path, 'utf8')) as Partial<VapidKeys>;
  const base64url = /^[A-Za-z0-9_-]+$/;
  if (typeof stored.publicKey !== 'string' || typeof stored.privateKey !== 'string' || !base64url.test(stored.publicKey) || !base64url.test(stored.privateKey)) {
    throw new Error(`${path} does not hold a VAPID key pair ({ publicKey, privateKey }, base64url)`);
  }
  return { publicKey: stored.publicKey, privateKey: stored.privateKey };
}
