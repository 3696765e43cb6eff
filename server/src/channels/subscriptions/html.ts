/**
 * The hosted pages people reach from a message (unsubscribe, preferences, a broken link): plain,
 * accessible HTML with inline CSS and no scripts. Every value is escaped; the headers keep the token
 * in the URL out of caches, search engines and the Referer sent to other sites.
 */
import type { Channel } from '@herald/projections';

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const CHANNEL_LABELS: Record<Channel, string> = {
  email: 'Email',
  sms: 'SMS',
  whatsapp: 'WhatsApp',
  telegram: 'Telegram',
  push: 'Push notifications',
  in_app: 'In-app messages',
};

export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex, nofollow',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

const STYLE = `
  body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #f6f8fa; margin: 0; }
  main { max-width: 32rem; margin: 3rem auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1.5rem 2rem; }
  h1 { font-size: 1.4rem; margin-top: 0; }
  button { font: inherit; background: #1f6feb; color: #fff; border: 0; border-radius: 6px; padding: .6rem 1.2rem; cursor: pointer; }
  button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
  a { color: #0969da; }
  fieldset { border: 0; padding: 0; margin: 0 0 1.2rem; }
  legend { font-weight: 600; margin-bottom: .5rem; }
  label { display: flex; gap: .6rem; align-items: center; padding: .35rem 0; }
  input[type=checkbox] { width: 1.2rem; height: 1.2rem; }
  .topic { padding-left: 1.8rem; }
  .status { background: #dafbe1; border: 1px solid #4ac26b; border-radius: 6px; padding: .6rem .9rem; }
  .error { background: #ffebe9; border: 1px solid #ff8182; border-radius: 6px; padding: .6rem .9rem; }
`;

/** A whole page; `body` must already be escaped HTML. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

export function invalidLinkPage(): string {
  return page(
    'Link not valid',
    `<h1>This link is not valid</h1>
<p class="error" role="alert">The link may have been copied incompletely or changed. Please use the link exactly as it appears in the message.</p>`,
  );
}
