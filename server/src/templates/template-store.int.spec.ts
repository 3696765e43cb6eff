/** The template store on the real SQLite log: versions, conflicts, cache invalidation, seeding. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RenderError, type RenderRequest } from '../channels/renderer.port';
import { WrongExpectedRevisionError } from '../event-store/errors';
import { SqliteEventStore } from '../event-store/sqlite/sqlite-event-store';
import { InvalidDefinitionError, NotFoundError } from '../http/http-errors';
import { TestClock } from '../shared/clock';
import { EXAMPLE_TEMPLATES_DIR, seedTemplates } from './seed-templates';
import { TEMPLATE_DELETED, TEMPLATE_SAVED, templatesStream } from './template';
import { TemplateRenderer } from './template-renderer';
import { TemplateStore } from './template-store';

const MJML = (text: string) => `<mjml><mj-body><mj-section><mj-column><mj-text>${text}</mj-text></mj-column></mj-section></mj-body></mjml>`;
const message = { id: 'm1', unsubscribe_url: 'https://h.example/u', preferences_url: 'https://h.example/p' };
const request = (template: string, channel: RenderRequest['channel'] = 'email'): RenderRequest => ({
  workspace: 'default',
  channel,
  template,
  variables: { user: { first_name: 'Ada' }, event: {}, trigger: {}, message },
});

describe('TemplateStore on SQLite', () => {
  let dir: string;
  let log: SqliteEventStore;
  let store: TemplateStore;
  const clock = new TestClock(new Date('2026-03-01T10:00:00Z'));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-templates-'));
    log = new SqliteEventStore({ path: join(dir, 'events.sqlite') });
    store = new TemplateStore(log, clock);
  });
  afterEach(async () => {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('saves versions as TemplateSaved events; the same content again is no new version', async () => {
    expect(await store.save('default', 'hello', { format: 'mjml', subject: 'Hi', body: MJML('one') })).toEqual({ id: 'hello', version: 1, created: true, changed: true });
    expect(await store.save('default', 'hello', { format: 'mjml', subject: 'Hi', body: MJML('one') })).toEqual({ id: 'hello', version: 1, created: false, changed: false });
    expect(await store.save('default', 'hello', { format: 'mjml', subject: 'Hi', body: MJML('two') })).toEqual({ id: 'hello', version: 2, created: false, changed: true });
    const events = await log.readStream(templatesStream('default'));
    expect(events.map((e) => [e.type, (e.data as { version: number }).version])).toEqual([
      [TEMPLATE_SAVED, 1],
      [TEMPLATE_SAVED, 2],
    ]);
    expect(events[1].data).toEqual({ template: { id: 'hello', format: 'mjml', channel: 'email', subject: 'Hi', body: MJML('two') }, version: 2 });
    expect(events[1].metadata).toMatchObject({ workspace: 'default', occurredAt: '2026-03-01T10:00:00.000Z' });
    expect(await store.get('default', 'hello')).toMatchObject({ version: 2, body: MJML('two'), savedAt: '2026-03-01T10:00:00.000Z' });
  });

  it('deletes, and a re-created template continues the version numbers', async () => {
    await store.save('default', 'a', { format: 'liquid', channel: 'sms', body: 'v1' });
    await store.save('default', 'b', { format: 'liquid', channel: 'sms', body: 'b' });
    await store.delete('default', 'a');
    expect((await store.list('default')).map((t) => t.id)).toEqual(['b']);
    expect(await store.get('default', 'a')).toBeUndefined();
    await expect(store.delete('default', 'a')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.require('default', 'a')).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.save('default', 'a', { format: 'liquid', channel: 'sms', body: 'again' })).toMatchObject({ version: 2, created: true });
    expect((await log.readStream(templatesStream('default'))).map((e) => e.type)).toEqual([TEMPLATE_SAVED, TEMPLATE_SAVED, TEMPLATE_DELETED, TEMPLATE_SAVED]);
  });

  it('keeps workspaces apart', async () => {
    await store.save('default', 'a', { format: 'liquid', body: 'default' });
    await store.save('shop', 'a', { format: 'liquid', body: 'shop' });
    expect((await store.get('default', 'a'))?.body).toBe('default');
    expect((await store.get('shop', 'a'))?.body).toBe('shop');
  });

  it('rejects a malformed template with line and column and appends nothing', async () => {
    const source = `---\nsubject: Hi\n---\n<mjml>\n  <mj-body>\n    <mj-section>\n      <mj-column>\n        <mj-text>{% if user.vip %}VIP</mj-text>\n      </mj-column>\n    </mj-section>\n  </mj-body>\n</mjml>\n`;
    const error = await store.save('default', 'bad', { source }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidDefinitionError);
    expect((error as InvalidDefinitionError).problems).toEqual([{ path: 'body', message: 'line 8, column 18: tag {% if user.vip %} not closed' }]);
    expect(await log.readStream(templatesStream('default'))).toEqual([]);
  });

  it('two concurrent edits of the same revision cannot both win', async () => {
    await store.save('default', 'a', { format: 'liquid', body: 'base' });
    const other = new TemplateStore(log, clock);
    // Both read revision 0 before either appends.
    const results = await Promise.allSettled([
      store.save('default', 'a', { format: 'liquid', body: 'mine' }),
      other.save('default', 'a', { format: 'liquid', body: 'theirs' }),
    ]);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevisionError);
    expect((await log.readStream(templatesStream('default'))).length).toBe(2);
  });

  it('the renderer sees each write at once (in-process cache invalidation), and the log is the truth', async () => {
    const renderer = new TemplateRenderer(store);
    await expect(renderer.render(request('promo'))).rejects.toMatchObject({ reason: 'template_missing' });
    await store.save('default', 'promo', { format: 'mjml', subject: 'Promo', body: MJML('Hi {{ user.first_name }}, v1') });
    expect((await renderer.render(request('promo'))).text).toBe('Hi Ada, v1');
    await store.save('default', 'promo', { format: 'mjml', subject: 'Promo', body: MJML('Hi {{ user.first_name }}, v2') });
    expect((await renderer.render(request('promo'))).text).toBe('Hi Ada, v2');
    await store.delete('default', 'promo');
    const error = await renderer.render(request('promo')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RenderError);
    expect((error as RenderError).reason).toBe('template_missing');

    // A write by someone else (another store instance) is seen after invalidate().
    const other = new TemplateStore(log, clock);
    await other.save('default', 'promo', { format: 'mjml', subject: 'Promo', body: MJML('v4') });
    await expect(renderer.render(request('promo'))).rejects.toMatchObject({ reason: 'template_missing' });
    store.invalidate('default');
    expect((await renderer.render(request('promo'))).text).toBe('v4');
  });

  describe('seeding examples/templates', () => {
    it('saves every example, in one append, when the workspace never had templates', async () => {
      const seeded = await seedTemplates(store, 'default', EXAMPLE_TEMPLATES_DIR);
      expect(seeded).toHaveLength(18);
      expect(seeded).toEqual(expect.arrayContaining(['welcome-1', 'cart-plain', 'cart-discount', 'cart-sms', 'service-notification']));
      const events = await log.readStream(templatesStream('default'));
      expect(events).toHaveLength(18);
      expect((await store.list('default')).map((t) => t.version)).toEqual(new Array(18).fill(1));
      expect(await store.get('default', 'cart-sms')).toMatchObject({ format: 'liquid', channel: 'sms' });
      const renderer = new TemplateRenderer(store);
      expect((await renderer.render(request('welcome-1'))).subject).toBe('Welcome aboard, Ada');
    });

    it('does nothing on a later start, even after every template was deleted', async () => {
      await seedTemplates(store, 'default', EXAMPLE_TEMPLATES_DIR);
      expect(await seedTemplates(store, 'default', EXAMPLE_TEMPLATES_DIR)).toEqual([]);
      for (const template of await store.list('default')) await store.delete('default', template.id);
      expect(await seedTemplates(new TemplateStore(log, clock), 'default', EXAMPLE_TEMPLATES_DIR)).toEqual([]);
      expect(await store.list('default')).toEqual([]);
    });

    it('seeds nothing from a folder that is not there', async () => {
      expect(await seedTemplates(store, 'default', join(dir, 'no-such-folder'))).toEqual([]);
      expect(await log.readStream(templatesStream('default'))).toEqual([]);
    });

    it('does nothing where a template was saved first', async () => {
      await store.save('default', 'mine', { format: 'liquid', body: 'x' });
      expect(await seedTemplates(store, 'default', EXAMPLE_TEMPLATES_DIR)).toEqual([]);
      expect((await store.list('default')).map((t) => t.id)).toEqual(['mine']);
    });
  });
});
