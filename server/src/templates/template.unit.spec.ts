import {
  evolveTemplates,
  initialTemplatesState,
  parseTemplateFile,
  parseTemplateInput,
  TEMPLATE_DELETED,
  TEMPLATE_SAVED,
  templateFile,
  type TemplateEvent,
} from './template';

const MJML = '<mjml><mj-body></mj-body></mjml>';

describe('parseTemplateInput', () => {
  it('takes JSON fields; an mjml template is an email, a liquid one keeps its channel', () => {
    expect(parseTemplateInput('welcome', { format: 'mjml', subject: 'Hi', body: MJML })).toEqual({
      ok: true,
      parsed: { content: { format: 'mjml', channel: 'email', subject: 'Hi', body: MJML }, bodyLineOffset: 0 },
    });
    expect(parseTemplateInput('nudge', { format: 'liquid', channel: 'push', subject: 'T', body: 'Go', url: 'https://x' })).toMatchObject({
      ok: true,
      parsed: { content: { format: 'liquid', channel: 'push', subject: 'T', body: 'Go', url: 'https://x' } },
    });
  });

  it('infers the format from the body when it is not given', () => {
    expect(parseTemplateInput('a', { body: `  ${MJML}` })).toMatchObject({ ok: true, parsed: { content: { format: 'mjml', channel: 'email' } } });
    expect(parseTemplateInput('a', { body: 'Hi {{ user.first_name }}' })).toMatchObject({ ok: true, parsed: { content: { format: 'liquid' } } });
    expect(parseTemplateInput('a', { body: 'Hi' })).not.toHaveProperty('parsed.content.channel');
  });

  it('reads a whole file from source, front matter included, and counts its lines for the body', () => {
    const source = `---\nsubject: "Hello {{ user.first_name | default: 'you' }}"\ntext: |\n  Hello\n---\n${MJML}\n`;
    expect(parseTemplateInput('hello', { source, format: 'mjml' })).toEqual({
      ok: true,
      parsed: {
        content: { format: 'mjml', channel: 'email', subject: "Hello {{ user.first_name | default: 'you' }}", text: 'Hello\n', body: `${MJML}\n` },
        bodyLineOffset: 5,
      },
    });
  });

  it('a file without front matter is all body', () => {
    expect(parseTemplateInput('sms', { source: 'Hi {{ user.first_name }}', format: 'liquid' })).toMatchObject({
      ok: true,
      parsed: { content: { body: 'Hi {{ user.first_name }}' }, bodyLineOffset: 0 },
    });
  });

  it.each([
    ['a bad id', 'Bad Id', { body: 'x' }, [{ path: 'id', message: expect.stringContaining('a-z') }]],
    ['an unknown field', 'a', { body: 'x', title: 'y' }, [{ path: 'title', message: 'is not a template field' }]],
    ['an unknown format', 'a', { body: 'x', format: 'html' }, [{ path: 'format', message: 'must be one of mjml, liquid' }]],
    ['an unknown channel', 'a', { body: 'x', channel: 'fax' }, [{ path: 'channel', message: expect.stringContaining('email, sms') }]],
    ['no body', 'a', { subject: 's' }, [{ path: 'body', message: expect.stringContaining('required') }]],
    ['a blank body', 'a', { body: '  \n' }, [{ path: 'body', message: expect.stringContaining('required') }]],
    ['a subject that is not a string', 'a', { body: 'x', subject: 3 }, [{ path: 'subject', message: 'must be a string (Liquid)' }]],
    ['an mjml template for SMS', 'a', { body: MJML, format: 'mjml', channel: 'sms' }, [{ path: 'channel', message: expect.stringContaining('email') }]],
    ['a text part on a liquid template', 'a', { body: 'x', format: 'liquid', text: 'y' }, [{ path: 'text', message: expect.any(String) }]],
    ['source with body', 'a', { source: 'x', body: 'y' }, [{ path: 'source', message: expect.stringContaining('body') }]],
  ])('rejects %s', (_name, id, input, problems) => {
    expect(parseTemplateInput(id, input)).toEqual({ ok: false, problems });
  });

  it('rejects front matter that is not YAML, with its line in the file', () => {
    const result = parseTemplateInput('a', { source: '---\nsubject: ok\nchannel: [sms\n---\nBody' });
    expect(result).toEqual({ ok: false, problems: [{ path: 'front matter', message: expect.stringMatching(/^line \d, column \d+: /) }] });
  });

  it('rejects front matter nesting lists past 16 levels before parsing it (100,000 levels ended the process)', () => {
    const deep = parseTemplateInput('a', { format: 'liquid', source: `---\nsubject: Hi\nx: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n---\nbody` });
    expect(deep).toEqual({ ok: false, problems: [{ path: 'front matter', message: 'line 3: nests lists or mappings more than 16 levels deep' }] });
  });

  it('rejects front matter whose aliases yaml refuses to expand, at the alias (a 400, not a crash)', () => {
    const many = parseTemplateInput('a', { format: 'liquid', source: '---\na: &a [x]\nb: [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n---\nbody' });
    expect(many).toEqual({
      ok: false,
      problems: [{ path: 'front matter', message: 'line 3, column 5: aliases (*a) expand to more than 10 copies; write the values out instead' }],
    });
    // A few aliases are fine: only the front matter fields are then checked.
    expect(parseTemplateInput('a', { source: '---\nsubject: &s Hi\nurl: *s\n---\nbody' })).toMatchObject({ ok: true, parsed: { content: { subject: 'Hi', url: 'Hi' } } });
    const unresolved = parseTemplateInput('a', { source: '---\nsubject: Hi\nurl: *nowhere\n---\nbody' });
    expect(unresolved).toEqual({
      ok: false,
      problems: [{ path: 'front matter', message: 'line 3, column 6: the alias *nowhere has no anchor &nowhere before it' }],
    });
    // An alias inside its own anchor makes a circular value, which is then not a string.
    expect(parseTemplateInput('a', { source: '---\nsubject: &s [*s]\n---\nbody' })).toEqual({
      ok: false,
      problems: [{ path: 'subject', message: 'must be a string (Liquid)' }],
    });
  });

  it('rejects unknown front matter keys and unclosed front matter', () => {
    expect(parseTemplateInput('a', { source: '---\nsubjet: Hi\n---\nBody' })).toEqual({
      ok: false,
      problems: [{ path: 'front matter.subjet', message: expect.stringContaining('subject, channel, text, url') }],
    });
    expect(parseTemplateInput('a', { source: '---\nsubject: Hi\nBody' })).toEqual({
      ok: false,
      problems: [{ path: 'front matter', message: expect.stringContaining('not closed') }],
    });
  });
});

describe('template files', () => {
  it('take id and format from the file name', () => {
    expect(parseTemplateFile('cart-sms.liquid', '---\nchannel: sms\n---\nHi')).toMatchObject({
      ok: true,
      id: 'cart-sms',
      parsed: { content: { format: 'liquid', channel: 'sms', body: 'Hi' } },
    });
    expect(parseTemplateFile('notes.txt', 'x')).toMatchObject({ ok: false });
  });

  it('templateFile writes what parseTemplateFile reads back', () => {
    const content = { format: 'mjml' as const, channel: 'email' as const, subject: 'Hi: {{ a }}', text: 'line 1\nline 2', body: MJML };
    const read = parseTemplateFile('x.mjml', templateFile(content));
    expect(read).toMatchObject({ ok: true, parsed: { content } });
  });
});

describe('evolveTemplates', () => {
  it('folds saves and deletes, keeping the last version of deleted ids', () => {
    const events: TemplateEvent[] = [
      { type: TEMPLATE_SAVED, data: { template: { id: 'a', format: 'liquid', body: 'one' }, version: 1 }, revision: 0, occurredAt: 't0' },
      { type: TEMPLATE_SAVED, data: { template: { id: 'a', format: 'liquid', body: 'two' }, version: 2 }, revision: 1, occurredAt: 't1' },
      { type: TEMPLATE_SAVED, data: { template: { id: 'b', format: 'liquid', body: 'b' }, version: 1 }, revision: 2, occurredAt: 't2' },
      { type: TEMPLATE_DELETED, data: { id: 'a' }, revision: 3, occurredAt: 't3' },
    ];
    const state = events.reduce(evolveTemplates, initialTemplatesState());
    expect([...state.templates.values()]).toEqual([{ id: 'b', format: 'liquid', body: 'b', version: 1, savedAt: 't2' }]);
    expect(state.revision).toBe(3);
    expect(state.lastVersion.get('a')).toBe(2);
  });
});
