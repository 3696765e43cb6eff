// @ts-check
/**
 * The signed token of Herald's links (link-signer.ts): a base64url JSON payload and a truncated
 * HMAC-SHA256 over it. Plain JavaScript so that the SMTP thread signs tracking links with the same
 * code as the main thread.
 */
'use strict';
const { createHmac } = require('node:crypto');

/**
 * @typedef {object} LinkPayload
 * @property {'o' | 'c' | 'u' | 'p' | 'i' | 'f'} k What the link does: `o` open, `c` click, `u` unsubscribe, `p` preferences, `i` in-app access, `f` email report intake.
 * @property {string} w Workspace.
 * @property {string} p Person identity key.
 * @property {string} [m] Message id (absent for preferences and in-app tokens).
 * @property {string} [ch] Channel the message went out on.
 * @property {string} [u] Click target.
 * @property {number} [e] Expiry, epoch seconds (in-app tokens).
 */

/**
 * @param {Uint8Array} secret
 * @param {LinkPayload} payload
 * @returns {string}
 */
function signLinkToken(secret, payload) {
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${body}.${linkMac(secret, body)}`;
}

/**
 * @param {Uint8Array} secret
 * @param {string} body
 * @returns {string}
 */
function linkMac(secret, body) {
  return createHmac('sha256', secret).update(body).digest('base64url').slice(0, 32);
}

module.exports = { signLinkToken, linkMac };
