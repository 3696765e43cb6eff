import { decodeEntities, htmlToText } from './html-to-text';

describe('htmlToText', () => {
  it('drops head, styles, comments, MSO conditionals and the hidden preheader', () => {
    const html = `<!doctype html><html><head><title>T</title><style>p { color: red; }</style></head>
      <body><div style="display:none;font-size:1px;">Preview text&#847;&zwnj;</div>
      <!--[if mso | IE]><table><tr><td><![endif]--><p>Hello</p><!-- a comment --></body></html>`;
    expect(htmlToText(html)).toBe('Hello');
  });

  it('keeps link URLs after their labels, and bare URLs once', () => {
    expect(htmlToText('<p>Read <a href="https://x.example/a?b=1&amp;c=2">the guide</a> now.</p>')).toBe(
      'Read the guide (https://x.example/a?b=1&c=2) now.',
    );
    expect(htmlToText('<p><a href="https://x.example">https://x.example</a></p>')).toBe('https://x.example');
    expect(htmlToText('<p><a href="mailto:help@x.example">help@x.example</a> <a href="#top">Top</a></p>')).toBe('help@x.example Top');
    expect(htmlToText('<a href="https://x.example"><img src="logo.png"></a>')).toBe('https://x.example');
  });

  it('turns blocks into lines (a block filling a cell, like an mj-text, into a paragraph) and collapses whitespace', () => {
    const html = `<table><tr><td>
        <div>First    line</div>
      </td></tr><tr><td><div>Second<br/>line</div></td></tr></table>
      <h1>Title</h1><p>Para
      graph</p><ul><li>one</li><li>two</li></ul>`;
    expect(htmlToText(html)).toBe('First line\n\nSecond\nline\n\nTitle\n\nPara graph\n\n- one\n- two');
  });

  it('counts <br>s, but a <br> at the end of a block adds nothing', () => {
    expect(htmlToText('<div>a<br>b<br><br>c<br></div><div>d</div>')).toBe('a\nb\n\nc\nd');
  });

  it('puts table cells of a row on one line', () => {
    expect(htmlToText('<table><tr><td>Shoe</td><td>89 EUR</td></tr><tr><td>Hat</td><td>9 EUR</td></tr></table>')).toBe('Shoe 89 EUR\nHat 9 EUR');
  });

  it('decodes entities once, after tags are gone', () => {
    expect(htmlToText('<p>a &lt;b&gt; &amp;amp; &times; &#8364; &#x2605; &nbsp;x</p>')).toBe('a <b> &amp; × € ★ x');
    expect(decodeEntities('&unknown; &#0;')).toBe('&unknown; &#0;');
  });
});
