// @ts-check
/**
 * Open and click tracking for an email's HTML: every http(s) link becomes a signed redirect through
 * Herald and a 1x1 pixel goes before `</body>`. Links that must keep working as they are (unsubscribe,
 * preferences, or any anchor marked `data-herald-no-track`) are left alone. Plain JavaScript so that
 * the SMTP thread (smtp-sender.worker.js) tracks each message beside the event loop; `trackHtml`
 * itself is pure: the caller supplies how to sign a click and where the pixel is.
 */
'use strict';
const { signLinkToken } = require('../link-token');

/**
 * @typedef {object} HtmlTracking
 * @property {(target: string) => string} click The tracked URL for a click on `target`.
 * @property {string} pixel The open pixel's URL.
 * @property {(target: string) => boolean} untracked Links that are not tracked (compared after entity decoding).
 */

/**
 * What the SMTP thread needs to track a message: the signing key and Herald's public URL (fixed),
 * and per message whom it is about and the links that stay as they are.
 * @typedef {{ baseUrl: string; secret: Uint8Array }} TrackingKey
 * @typedef {{ about: { w: string; p: string; m: string; ch: string }; own: string[] }} MessageTracking
 */

const ANCHOR = /<a\b[^>]*>/gi;
const HREF = /(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;

/**
 * @param {string} html
 * @param {HtmlTracking} tracking
 * @returns {string}
 */
function trackHtml(html, tracking) {
  const linked = html.replace(ANCHOR, (tag) => {
    if (/\sdata-herald-no-track\b/i.test(tag)) return tag;
    return tag.replace(HREF, (attribute, /** @type {string} */ prefix, /** @type {string | undefined} */ double, /** @type {string | undefined} */ single, /** @type {string | undefined} */ bare) => {
      const target = decodeEntities((double ?? single ?? bare ?? '').trim());
      if (!/^https?:\/\/[^\s]+$/i.test(target) || tracking.untracked(target)) return attribute;
      const ascii = asciiUrl(target);
      // A target no redirect can name (not a URL at all) stays as written rather than becoming a broken link.
      if (ascii === undefined) return attribute;
      return `${prefix}"${escapeAttribute(tracking.click(ascii))}"`;
    });
  });
  const pixel = `<img src="${escapeAttribute(tracking.pixel)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">`;
  let end = -1;
  for (const match of linked.matchAll(/<\/body\s*>/gi)) end = /** @type {number} */ (match.index);
  return end === -1 ? `${linked}${pixel}` : `${linked.slice(0, end)}${pixel}${linked.slice(end)}`;
}

/**
 * An email's HTML with its clicks and open signed for Herald's `/t/c` and `/t/o` (tracking.controller.ts);
 * Herald's own unsubscribe and preference links are left alone.
 * @param {string} html
 * @param {TrackingKey} key
 * @param {MessageTracking} message
 * @returns {string}
 */
function trackEmailHtml(html, key, message) {
  const base = key.baseUrl.replace(/\/$/, '');
  const { about, own } = message;
  /** @param {string} path @param {import('../link-token').LinkPayload} payload */
  const url = (path, payload) => `${base}${path}/${signLinkToken(key.secret, payload)}`;
  return trackHtml(html, {
    click: (target) => url('/t/c', { k: 'c', ...about, u: target }),
    pixel: `${url('/t/o', { k: 'o', ...about })}.gif`,
    untracked: (target) => own.includes(target) || target.startsWith(`${base}/u/`) || target.startsWith(`${base}/preferences/`),
  });
}

/**
 * The target as the click redirect's `Location` can carry it: ASCII as written, or, with any other
 * character (`https://example.com/商品`, `https://пример.рф/`, `café`), the URL's ASCII form
 * (`new URL(target).href`: path, query and fragment percent-encoded as UTF-8, the host in punycode).
 * Either way printable ASCII, what a header may hold. Undefined when it is not a URL.
 * @param {string} target
 * @returns {string | undefined}
 */
function asciiUrl(target) {
  let href;
  try {
    href = new URL(target).href;
  } catch {
    return undefined;
  }
  return /^[\x21-\x7e]+$/.test(target) ? target : href;
}

/** @type {Record<string, string>} */
const NAMED = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/**
 * Enough of HTML's character references for URLs in attributes (`&amp;` from Liquid and MJML, numeric ones).
 * @param {string} value
 * @returns {string}
 */
function decodeEntities(value) {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, /** @type {string} */ name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED[name.toLowerCase()] ?? whole;
  });
}

/** @param {string} value */
function escapeAttribute(value) {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

module.exports = { trackHtml, trackEmailHtml, decodeEntities, asciiUrl };
