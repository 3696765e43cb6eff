/**
 * The text part of an email, from its HTML: drops the head, styles, comments and the hidden
 * preheader, keeps each link's URL after its label, turns blocks into lines and collapses the rest
 * of the whitespace. MJML's output is regular enough (tables of divs and paragraphs) that this small
 * converter does well; it is not a general HTML parser.
 */

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™', hellip: '…',
  mdash: '—', ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»', euro: '€',
  pound: '£', yen: '¥', cent: '¢', middot: '·', bull: '•', times: '×', divide: '÷', deg: '°', plusmn: '±',
  frac12: '½', frac14: '¼', frac34: '¾', sect: '§', para: '¶', larr: '←', rarr: '→', uarr: '↑', darr: '↓',
  iexcl: '¡', iquest: '¿', eacute: 'é', egrave: 'è', agrave: 'à', aacute: 'á', ccedil: 'ç', uuml: 'ü', ouml: 'ö',
  auml: 'ä', szlig: 'ß', ntilde: 'ñ', zwnj: '', zwj: '', shy: '', ensp: ' ', emsp: ' ', thinsp: ' ',
};

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      // Invisible padding characters MJML and email tools put into preheaders.
      if (code === 847 || code === 8204 || code === 8203 || code === 173) return '';
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[name.toLowerCase()] ?? whole;
  });
}

const HREF = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')/i;

/*
 * Where lines break is marked first and resolved last, so that a run of block ends counts once even
 * when Liquid tags sit between them (the compiler converts a template once and renders it per
 * recipient, resolving the marks after each render: a loop's rows then stay one line each).
 */
const LINE = '\u0001';
const PARAGRAPH = '\u0002';
const BREAK = '\u0003';

export function htmlToText(html: string): string {
  return resolveBreaks(htmlToMarkedText(html));
}

/** The text with break marks still in it; `resolveBreaks` turns them into newlines. */
export function htmlToMarkedText(html: string): string {
  const text = html
    // Line breaks in the source are only whitespace; the tags decide where lines break.
    .replace(/\s+/g, ' ')
    .replace(/[\u0001-\u0003]/g, '')
    .replace(/<head[\s>][\s\S]*?<\/head>/gi, '')
    .replace(/<(style|script|title)\b[\s\S]*?<\/\1>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<![^>]*>/g, '')
    // The preheader: shown by the inbox next to the subject, not part of the message.
    .replace(/<(div|span)\b[^>]*style\s*=\s*"[^"]*display\s*:\s*none[^"]*"[^>]*>[\s\S]*?<\/\1>/gi, '')
    .replace(/<a\b([^>]*)>([\s\S]*?)<\/a>/gi, (_, attributes: string, inner: string) => link(attributes, inner))
    .replace(/<br\s*\/?>/gi, BREAK)
    .replace(/<li\b[^>]*>/gi, `${LINE}- `)
    .replace(/<hr\b[^>]*>/gi, PARAGRAPH)
    // A block that fills a table cell is one of MJML's components (an mj-text): a paragraph.
    .replace(/<\/div>\s*<\/td>/gi, PARAGRAPH)
    .replace(/<\/?(p|h[1-6]|table|ul|ol|blockquote)\b[^>]*>/gi, PARAGRAPH)
    .replace(/<\/?(div|tr|li|section|article|header|footer)\b[^>]*>/gi, LINE)
    .replace(/<\/t[dh]>/gi, ' ')
    .replace(/<\/?[a-z][^>]*>/gi, '');
  return decodeEntities(text);
}

/** Each run of break marks becomes one line break, a blank line if a paragraph ends in it, or as many as its `<br>`s. */
export function resolveBreaks(marked: string): string {
  const text = marked.replace(/[ \u0001-\u0003]*[\u0001-\u0003][ \u0001-\u0003]*/g, (run) => {
    const breaks = run.split(BREAK).length - 1;
    return '\n'.repeat(Math.max(run.includes(PARAGRAPH) ? 2 : 1, breaks));
  });
  return tidyText(text);
}

/** Trims every line, collapses runs of spaces and of blank lines. */
export function tidyText(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/[ \t\f\v\u00a0\r]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function link(attributes: string, inner: string): string {
  // Entities are decoded once, for the whole text, later; here only to compare the label with the URL.
  const label = inner.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  const match = HREF.exec(attributes);
  const url = (match ? (match[1] ?? match[2] ?? '') : '').trim();
  if (!url || url.startsWith('#') || /^javascript:/i.test(url)) return label;
  const shown = url.replace(/^mailto:/i, '');
  const plainLabel = decodeEntities(label);
  if (!plainLabel || plainLabel === decodeEntities(url) || plainLabel === decodeEntities(shown)) return ` ${shown} `;
  return `${label} (${shown})`;
}
