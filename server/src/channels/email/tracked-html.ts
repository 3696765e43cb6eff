/**
 * Open and click tracking for an email's HTML: every http(s) link becomes a signed redirect through
 * Herald and a 1x1 pixel goes before `</body>`. Links that must keep working as they are (unsubscribe,
 * preferences, or any anchor marked `data-herald-no-track`) are left alone. Pure: the caller supplies
 * how to sign a click and where the pixel is.
 */

export interface HtmlTracking {
  /** The tracked URL for a click on `target`. */
  click(target: string): string;
  /** The open pixel's URL. */
  pixel: string;
  /** Links that are not tracked (compared after entity decoding). */
  untracked(target: string): boolean;
}

const ANCHOR = /<a\b[^>]*>/gi;
const HREF = /(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;

export function trackHtml(html: string, tracking: HtmlTracking): string {
  const linked = html.replace(ANCHOR, (tag) => {
    if (/\sdata-herald-no-track\b/i.test(tag)) return tag;
    return tag.replace(HREF, (attribute, prefix: string, double?: string, single?: string, bare?: string) => {
      const target = decodeEntities((double ?? single ?? bare ?? '').trim());
      if (!/^https?:\/\/[^\s]+$/i.test(target) || tracking.untracked(target)) return attribute;
      return `${prefix}"${escapeAttribute(tracking.click(target))}"`;
    });
  });
  const pixel = `<img src="${escapeAttribute(tracking.pixel)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">`;
  let end = -1;
  for (const match of linked.matchAll(/<\/body\s*>/gi)) end = match.index;
  return end === -1 ? `${linked}${pixel}` : `${linked.slice(0, end)}${pixel}${linked.slice(end)}`;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Enough of HTML's character references for URLs in attributes (`&amp;` from Liquid and MJML, numeric ones). */
export function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED[name.toLowerCase()] ?? whole;
  });
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
