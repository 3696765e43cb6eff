/**
 * /api/templates over HTTP on a real Herald: first-start seeding, create/replace/list/delete,
 * rejection of malformed templates with line and column, and previews for a user and an event.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminGet, adminSend, eventually, post, startTestApp, type TestApp } from '../test-support/herald-test-app';

const examples = join(__dirname, '../../../examples/templates');
const MJML = (text: string) => `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>${text}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;

let herald: TestApp;
beforeAll(async () => {
  herald = await startTestApp();
});
afterAll(() => herald.destroy());

const api = (path: string) => `${herald.url}/api/templates${path}`;

describe('/api/templates', () => {
  it('the default workspace starts with the example templates', async () => {
    const list = await adminGet(api(''));
    expect(list.status).toBe(200);
    const ids = (list.body.templates as Array<{ id: string }>).map((t) => t.id);
    expect(ids).toHaveLength(18);
    expect(ids).toEqual(expect.arrayContaining(['welcome-1', 'cart-plain', 'cart-discount', 'cart-sms', 'back-in-stock-push', 'service-notification']));
    expect(list.body.templates).toContainEqual({ id: 'cart-sms', format: 'liquid', channel: 'sms', version: 1, savedAt: expect.any(String) });
    const cart = await adminGet(api('/cart-plain'));
    expect(cart.body).toMatchObject({ id: 'cart-plain', format: 'mjml', channel: 'email', subject: 'You left something behind', version: 1 });
    // `source` is the file form: front matter, then the body as saved.
    const file = readFileSync(join(examples, 'cart-plain.mjml'), 'utf8');
    expect(cart.body.source).toBe(`---\nsubject: "You left something behind"\n---\n${file.slice(file.indexOf('<mjml>'))}`);
  });

  it('creates (201), keeps an identical save (200, same version), replaces (200, next version), deletes', async () => {
    const template = { format: 'mjml', subject: 'Hello {{ user.first_name | default: "you" }}', body: MJML('Hi {{ user.first_name | default: "you" }}') };
    expect(await adminSend('PUT', api('/hello'), template)).toEqual({ status: 201, body: { id: 'hello', version: 1 } });
    expect(await adminSend('PUT', api('/hello'), template)).toEqual({ status: 200, body: { id: 'hello', version: 1 } });
    expect(await adminSend('PUT', api('/hello'), { ...template, body: MJML('Hello there') })).toEqual({ status: 200, body: { id: 'hello', version: 2 } });
    const one = await adminGet(api('/hello'));
    expect(one.body).toMatchObject({ id: 'hello', format: 'mjml', channel: 'email', version: 2, body: MJML('Hello there') });
    expect(await adminSend('DELETE', api('/hello'))).toEqual({ status: 200, body: { id: 'hello', deleted: true } });
    expect((await adminGet(api('/hello'))).status).toBe(404);
    expect((await adminSend('DELETE', api('/hello'))).status).toBe(404);
  });

  it('takes a whole template file as `source`, front matter and all', async () => {
    const source = readFileSync(join(examples, 'back-in-stock-push.liquid'), 'utf8');
    expect(await adminSend('PUT', api('/restock-push'), { source })).toEqual({ status: 201, body: { id: 'restock-push', version: 1 } });
    expect((await adminGet(api('/restock-push'))).body).toMatchObject({ format: 'liquid', channel: 'push', subject: 'Back in stock' });
    const mjml = readFileSync(join(examples, 'welcome-1.mjml'), 'utf8');
    expect((await adminSend('PUT', api('/welcome-copy?format=mjml'), { source: mjml })).status).toBe(201);
  });

  it('rejects malformed templates at publish with the line and column', async () => {
    const liquid = await adminSend('PUT', api('/broken'), { source: `---\nsubject: Hi\n---\n${MJML('Hi {% if user.vip %}VIP')}` });
    expect(liquid).toEqual({
      status: 400,
      body: {
        error: 'invalid_definition',
        message: expect.stringContaining('line 8, column 21: tag {% if user.vip %} not closed'),
        problems: [{ path: 'body', message: 'line 8, column 21: tag {% if user.vip %} not closed' }],
      },
    });
    const mjml = await adminSend('PUT', api('/broken'), { format: 'mjml', subject: 'Hi', body: MJML('Hi').replace('<mj-text>', '<mj-text colour="red">') });
    expect(mjml.status).toBe(400);
    expect(mjml.body.problems).toEqual([{ path: 'body', message: 'line 5, column 9: Attribute colour is illegal' }]);
    const subject = await adminSend('PUT', api('/broken'), { format: 'liquid', channel: 'sms', subject: '{{ user.name', body: 'x' });
    expect(subject.body.problems).toEqual([{ path: 'subject', message: 'line 1, column 1: output "{{ user.name" not closed' }]);
    expect((await adminSend('PUT', api('/Not An Id'), { format: 'liquid', body: 'x' })).status).toBe(400);
    expect((await adminGet(api('/broken'))).status).toBe(404);
  });

  it('previews with given traits and event properties', async () => {
    const preview = await adminSend('POST', api('/cart-plain/preview'), {
      traits: { first_name: 'Ada' },
      event: { cart_id: 'c-42' },
      subject: "You left something behind, {{ user.first_name | default: 'friend' }}",
    });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ channel: 'email', subject: 'You left something behind, Ada', url: null });
    expect(preview.body.html).toContain('href="https://shop.example.com/cart/c-42"');
    expect(preview.body.text).toContain('Hi Ada, your cart is saved');
    expect(preview.body.text).toContain('Unsubscribe (#unsubscribe)');
    const push = await adminSend('POST', api('/back-in-stock-push/preview'), { event: { product_id: 'p1', name: 'Trail Shoe' }, subject: '{{ trigger.name }} is back' });
    expect(push.body).toEqual({ channel: 'push', subject: 'Trail Shoe is back', html: null, text: "Trail Shoe is available again. Tap to get yours before it's gone.", url: 'https://shop.example.com/products/p1' });
  });

  it("previews with a user's current traits", async () => {
    expect((await post(`${herald.url}/v1/identify`, { userId: 'ada', traits: { first_name: 'Ada', email: 'ada@example.com' } })).status).toBe(200);
    const preview = await eventually(async () => {
      const response = await adminSend('POST', api('/welcome-1/preview'), { userId: 'ada' });
      return response.status === 200 ? response : undefined;
    });
    expect(preview.body.subject).toBe('Welcome aboard, Ada');
    expect(preview.body.text).toContain('Welcome, Ada!');
    // Given traits win over the stored ones.
    expect((await adminSend('POST', api('/welcome-1/preview'), { userId: 'ada', traits: { first_name: 'Bea' } })).body.subject).toBe('Welcome aboard, Bea');
    expect((await adminSend('POST', api('/welcome-1/preview'), { userId: 'nobody' })).status).toBe(404);
  });

  it('a preview that does not render is a 422 with the reason', async () => {
    await adminSend('PUT', api('/strict'), { format: 'liquid', channel: 'sms', body: 'Your code is {{ trigger.code }}' });
    expect(await adminSend('POST', api('/strict/preview'), {})).toEqual({
      status: 422,
      body: { error: 'render_failed', reason: 'missing_variable', message: 'Template strict: body uses trigger.code, which is not set and has no default' },
    });
    expect((await adminSend('POST', api('/strict/preview'), { event: { code: '123456' } })).body.text).toBe('Your code is 123456');
    expect((await adminSend('POST', api('/strict/preview'), { channel: 'push' })).body.reason).toBe('template_invalid');
    expect((await adminSend('POST', api('/strict/preview'), { traits: 'x' })).status).toBe(400);
    expect((await adminSend('POST', api('/nope/preview'), {})).status).toBe(404);
  });

  it('front matter whose aliases yaml refuses to expand is a 400 naming the alias, not a 500', async () => {
    const source = '---\na: &a [x]\nb: [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n---\nbody';
    expect(await adminSend('PUT', api('/aliases'), { format: 'liquid', source })).toEqual({
      status: 400,
      body: {
        error: 'invalid_definition',
        message: expect.stringContaining('front matter: line 3, column 5: aliases (*a) expand to more than 10 copies'),
        problems: [{ path: 'front matter', message: 'line 3, column 5: aliases (*a) expand to more than 10 copies; write the values out instead' }],
      },
    });
    const unresolved = await adminSend('PUT', api('/aliases'), { format: 'liquid', source: '---\nsubject: *nowhere\n---\nbody' });
    expect(unresolved.status).toBe(400);
    expect(unresolved.body.problems).toEqual([{ path: 'front matter', message: 'line 2, column 10: the alias *nowhere has no anchor &nowhere before it' }]);
    expect((await adminGet(api('/aliases'))).status).toBe(404);
  });

  it('a range loop over the memory limit is refused at publish (literal bounds) or at once at preview', async () => {
    const literal = await adminSend('PUT', api('/ranges'), { format: 'liquid', body: '{% for i in (1..100000000) %}{% endfor %}' });
    expect(literal).toEqual({
      status: 400,
      body: {
        error: 'invalid_definition',
        message: expect.stringContaining('body: line 1, column 13: the range (1..100000000) has 100000000 items'),
        problems: [{ path: 'body', message: 'line 1, column 13: the range (1..100000000) has 100000000 items, more than one render may allocate (memory limit 1000000)' }],
      },
    });
    expect((await adminGet(api('/ranges'))).status).toBe(404);
    const variable = { format: 'liquid', channel: 'sms', body: '{% for i in (1..trigger.n) %}.{% endfor %}' };
    expect((await adminSend('PUT', api('/ranges'), variable)).status).toBe(201);
    expect((await adminSend('POST', api('/ranges/preview'), { event: { n: 3 } })).body.text).toBe('...');
    // Under the old limit (1e8) this range was built and looped until the render limit, 2 s later.
    expect(await adminSend('POST', api('/ranges/preview'), { event: { n: 10_000_000 } })).toEqual({
      status: 422,
      body: { error: 'render_failed', reason: 'template_invalid', message: expect.stringContaining('memory alloc limit exceeded') },
    });
    // A step subject is rendered by the same engines.
    const subject = await adminSend('POST', api('/ranges/preview'), { event: { n: 1 }, subject: '{% for i in (1..10000000) %}{% endfor %}' });
    expect(subject).toEqual({ status: 422, body: { error: 'render_failed', reason: 'template_invalid', message: expect.stringContaining('memory alloc limit exceeded') } });
  });

  it('needs the admin token and a known workspace', async () => {
    expect((await adminGet(api(''), 'wrong')).status).toBe(401);
    expect((await fetch(api('/x'), { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await adminGet(`${api('')}?workspace=nope`)).status).toBe(404);
  });
});
