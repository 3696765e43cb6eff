import { asciiUrl, decodeEntities, trackHtml } from './tracked-html';

const tracking = {
  click: (target: string) => `https://h.test/t/c/${Buffer.from(target).toString('base64url')}`,
  pixel: 'https://h.test/t/o/tok.gif',
  untracked: (target: string) => target.startsWith('https://h.test/u/') || target === 'https://h.test/preferences/p1',
};
const clicked = (target: string) => tracking.click(target);

describe('trackHtml', () => {
  it('sends every http(s) link through the click redirect, whatever the quoting, and decodes entities first', () => {
    const html = `<html><body>
<a href="https://shop.example.com/cart?id=1&amp;utm=x">cart</a>
<a class="b" href='http://example.com/a'>a</a>
<A HREF=https://example.com/b>b</A>
</body></html>`;
    const out = trackHtml(html, tracking);
    expect(out).toContain(`<a href="${clicked('https://shop.example.com/cart?id=1&utm=x')}">cart</a>`);
    expect(out).toContain(`<a class="b" href="${clicked('http://example.com/a')}">a</a>`);
    expect(out).toContain(`<A HREF="${clicked('https://example.com/b')}">b</A>`);
  });

  it('leaves unsubscribe, preferences, mailto:, tel:, anchors and data-herald-no-track links alone', () => {
    const links = [
      '<a href="https://h.test/u/abc.def">Unsubscribe</a>',
      '<a href="https://h.test/preferences/p1">Preferences</a>',
      '<a href="mailto:help@example.com">Mail us</a>',
      '<a href="tel:+3120000000">Call</a>',
      '<a href="#top">Top</a>',
      '<a data-herald-no-track href="https://example.com/raw">raw</a>',
      '<a name="anchor">no href</a>',
    ];
    const out = trackHtml(`<body>${links.join('')}</body>`, tracking);
    for (const link of links) expect(out).toContain(link);
  });

  it('puts the open pixel just before the last </body>, or at the end without one', () => {
    const pixel = '<img src="https://h.test/t/o/tok.gif" width="1" height="1" alt=""';
    const withBody = trackHtml('<html><body><p>Hi</p></BODY ></html>', tracking);
    expect(withBody.indexOf(pixel)).toBeGreaterThan(withBody.indexOf('<p>Hi</p>'));
    expect(withBody.indexOf(pixel)).toBeLessThan(withBody.indexOf('</BODY >'));
    expect(trackHtml('<p>fragment</p>', tracking)).toMatch(new RegExp(`^<p>fragment</p>${pixel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('signs a target with characters outside ASCII as its ASCII form, which a Location header can carry', () => {
    const html = `<body>
<a href="https://example.com/商品?q=é#ü">product</a>
<a href="https://пример.рф/">idn</a>
<a href="https://example.com/caf&#xe9;">latin-1</a>
<a href="https://example.com/plain">ascii</a>
</body>`;
    const out = trackHtml(html, tracking);
    expect(out).toContain(`<a href="${clicked('https://example.com/%E5%95%86%E5%93%81?q=%C3%A9#%C3%BC')}">product</a>`);
    expect(out).toContain(`<a href="${clicked('https://xn--e1afmkfd.xn--p1ai/')}">idn</a>`);
    expect(out).toContain(`<a href="${clicked('https://example.com/caf%C3%A9')}">latin-1</a>`);
    // ASCII targets are signed exactly as written (no trailing slash or case added).
    expect(trackHtml('<a href="https://Example.com">x</a>', tracking)).toContain(clicked('https://Example.com'));
    expect(out).toContain(`<a href="${clicked('https://example.com/plain')}">ascii</a>`);
  });

  it('leaves a link that is not a URL as written instead of signing a redirect that cannot be made', () => {
    const link = '<a href="https://[not-a-host/x">x</a>';
    expect(trackHtml(`<body>${link}</body>`, tracking)).toContain(link);
  });

  it('keeps replacement patterns in URLs literal', () => {
    const out = trackHtml('<body><a href="https://example.com/$&$1">x</a></body>', tracking);
    expect(out).toContain(clicked('https://example.com/$&$1'));
  });
});

describe('asciiUrl', () => {
  it('keeps ASCII URLs as written, encodes others, and refuses what is not a URL', () => {
    expect(asciiUrl('https://example.com')).toBe('https://example.com');
    expect(asciiUrl('https://example.com/商品')).toBe('https://example.com/%E5%95%86%E5%93%81');
    expect(asciiUrl('https://пример.рф/')).toBe('https://xn--e1afmkfd.xn--p1ai/');
    expect(asciiUrl('https://[x')).toBeUndefined();
  });
});

describe('decodeEntities', () => {
  it('decodes named and numeric references and leaves unknown ones', () => {
    expect(decodeEntities('a&amp;b&#38;c&#x26;d&quot;&unknown;')).toBe('a&b&c&d"&unknown;');
  });
});
