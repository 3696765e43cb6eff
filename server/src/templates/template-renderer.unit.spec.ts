import { RenderError, type RenderRequest } from '../channels/renderer.port';
import type { StoredTemplate, TemplateContent } from './template';
import { TemplateRenderer } from './template-renderer';

const inColumn = (inner: string) => `<mjml><mj-body><mj-section><mj-column>${inner}</mj-column></mj-section></mj-body></mjml>`;

class Templates {
  readonly all = new Map<string, StoredTemplate>();
  put(id: string, content: TemplateContent, version = 1): void {
    this.all.set(id, { id, version, savedAt: 't', ...content });
  }
  async get(_workspace: string, id: string): Promise<StoredTemplate | undefined> {
    return this.all.get(id);
  }
}

const message = { id: 'm1', unsubscribe_url: 'https://h.example/u?t=1&c=email', preferences_url: 'https://h.example/p' };

function request(template: string, channel: RenderRequest['channel'], variables: Partial<RenderRequest['variables']> = {}, subject?: string): RenderRequest {
  return { workspace: 'default', channel, template, subject, variables: { user: {}, event: {}, trigger: {}, message, ...variables } };
}

async function failure(promise: Promise<unknown>): Promise<RenderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof RenderError)) throw new Error(`expected a RenderError, got ${String(error)}`);
  return error;
}

describe('TemplateRenderer', () => {
  let templates: Templates;
  let renderer: TemplateRenderer;
  beforeEach(() => {
    templates = new Templates();
    renderer = new TemplateRenderer(templates);
  });

  describe('variables', () => {
    beforeEach(() => templates.put('sms', { format: 'liquid', channel: 'sms', body: "Hi {{ user.first_name | default: 'friend' }}, cart {{ trigger.cart_id }}" }));

    it('personalises from user traits and trigger properties', async () => {
      expect(await renderer.render(request('sms', 'sms', { user: { first_name: 'Ada' }, trigger: { cart_id: 'c1' } }))).toEqual({ text: 'Hi Ada, cart c1' });
    });

    it('`default` stands in for an unset (or empty) variable', async () => {
      expect((await renderer.render(request('sms', 'sms', { trigger: { cart_id: 'c1' } }))).text).toBe('Hi friend, cart c1');
      expect((await renderer.render(request('sms', 'sms', { user: { first_name: '' }, trigger: { cart_id: 'c1' } }))).text).toBe('Hi friend, cart c1');
    });

    it('an unset variable without a default fails the message, naming the variable', async () => {
      const error = await failure(renderer.render(request('sms', 'sms', { user: { first_name: 'Ada' } })));
      expect(error.reason).toBe('missing_variable');
      expect(error.message).toBe('Template sms: body uses trigger.cart_id, which is not set and has no default');
    });

    it('an unset variable may be the condition of an if; inside loops and blocks it still fails', async () => {
      templates.put('cond', { format: 'liquid', body: '{% if user.vip %}VIP{% else %}std{% endif %}{% unless trigger.x %}!{% endunless %}' });
      expect((await renderer.render(request('cond', 'sms'))).text).toBe('std!');
      templates.put('loop', { format: 'liquid', body: '{% for p in trigger.products %}{% if p.name %}{{ p.name }}{% endif %} {{ p.price }}{% endfor %}' });
      const error = await failure(renderer.render(request('loop', 'sms', { trigger: { products: [{ name: 'Shoe', price: 5 }, { name: 'Hat' }] } })));
      expect(error.reason).toBe('missing_variable');
      expect(error.message).toContain('p.price');
      expect((await failure(renderer.render(request('loop', 'sms')))).message).toContain('trigger.products');
    });

    it('a filter after the default does not make a bare variable lenient', async () => {
      templates.put('f', { format: 'liquid', body: "{{ user.name | upcase | default: 'X' }}" });
      expect((await failure(renderer.render(request('f', 'sms')))).reason).toBe('missing_variable');
    });

    it('case and assign tolerate an unset variable; printing what was assigned from it, or a filter argument, does not', async () => {
      templates.put('case', { format: 'liquid', body: "{% case user.plan %}{% when 'pro' %}P{% else %}F{% endcase %}{% assign p = user.plan %}{{ p | default: '-' }}" });
      expect((await renderer.render(request('case', 'sms'))).text).toBe('F-');
      templates.put('assigned', { format: 'liquid', body: '{% assign p = user.plan %}[{{ p }}]' });
      expect((await failure(renderer.render(request('assigned', 'sms')))).message).toContain('uses p,');
      templates.put('argument', { format: 'liquid', body: "{{ 'Hi' | append: user.suffix }}" });
      expect((await failure(renderer.render(request('argument', 'sms')))).message).toContain('user.suffix');
      templates.put('fallback', { format: 'liquid', body: '{{ user.nick | default: user.first_name }}' });
      expect((await renderer.render(request('fallback', 'sms', { user: { first_name: 'Ada' } }))).text).toBe('Ada');
      expect((await failure(renderer.render(request('fallback', 'sms')))).message).toContain('user.first_name');
    });

    it('reads only own properties, never prototypes', async () => {
      templates.put('proto', { format: 'liquid', body: '{{ user.constructor.name }}' });
      expect((await failure(renderer.render(request('proto', 'sms')))).reason).toBe('missing_variable');
    });
  });

  it('an unknown template fails with template_missing', async () => {
    const error = await failure(renderer.render(request('nope', 'sms')));
    expect(error).toMatchObject({ reason: 'template_missing', message: 'Template nope does not exist in workspace default' });
  });

  it('a template for another channel fails with template_invalid', async () => {
    templates.put('push', { format: 'liquid', channel: 'push', body: 'x' });
    templates.put('mail', { format: 'mjml', channel: 'email', subject: 's', body: inColumn('<mj-text>x</mj-text>') });
    expect((await failure(renderer.render(request('push', 'sms')))).reason).toBe('template_invalid');
    expect((await failure(renderer.render(request('mail', 'sms')))).message).toContain('cannot be sent as sms');
  });

  describe('email', () => {
    const body = inColumn(`<mj-text>Hi {{ user.first_name | default: 'there' }}</mj-text>
      <mj-button href="https://shop.example/cart/{{ trigger.cart_id | default: '' }}">Back to your cart</mj-button>
      <mj-text><a href="{{ message.unsubscribe_url }}">Unsubscribe</a></mj-text>`);

    it('renders subject, HTML and a text part generated from it, links kept', async () => {
      templates.put('cart', { format: 'mjml', channel: 'email', subject: "Your cart, {{ user.first_name | default: 'friend' }}", body });
      const content = await renderer.render(request('cart', 'email', { user: { first_name: 'Ada' }, trigger: { cart_id: 'c9' } }));
      expect(content.subject).toBe('Your cart, Ada');
      expect(content.html).toContain('Hi Ada</div>');
      expect(content.html).toContain('href="https://shop.example/cart/c9"');
      expect(content.html).toContain('href="https://h.example/u?t=1&amp;c=email"');
      expect(content.text).toBe('Hi Ada\n\nBack to your cart (https://shop.example/cart/c9)\n\nUnsubscribe (https://h.example/u?t=1&c=email)');
    });

    it("the step's subject overrides the template's", async () => {
      templates.put('cart', { format: 'mjml', channel: 'email', subject: 'Template subject', body });
      const content = await renderer.render(request('cart', 'email', { trigger: { name: 'Trail Shoe' } }, '{{ trigger.name }} is back'));
      expect(content.subject).toBe('Trail Shoe is back');
      expect((await failure(renderer.render(request('cart', 'email', {}, '{{ trigger.name }} is back')))).reason).toBe('missing_variable');
    });

    it("uses the template's own text part when it has one", async () => {
      templates.put('cart', { format: 'mjml', channel: 'email', subject: 's', body, text: 'Hi {{ user.first_name }}\nStop: {{ message.unsubscribe_url }}\n' });
      expect((await renderer.render(request('cart', 'email', { user: { first_name: '<Ada>' } }))).text).toBe('Hi <Ada>\nStop: https://h.example/u?t=1&c=email');
    });

    it('escapes variables in the HTML only; `raw` opts out', async () => {
      templates.put('x', {
        format: 'mjml',
        channel: 'email',
        subject: '{{ user.name }} & co',
        body: inColumn('<mj-text>{{ user.name }} / {{ trigger.snippet | raw }}</mj-text>'),
      });
      const content = await renderer.render(request('x', 'email', { user: { name: '<b>Ada</b> "A"' }, trigger: { snippet: '<i>ok</i>' } }));
      expect(content.html).toContain('&lt;b&gt;Ada&lt;/b&gt; &#34;A&#34; / <i>ok</i>');
      expect(content.subject).toBe('<b>Ada</b> "A" & co');
      expect(content.text).toBe('<b>Ada</b> "A" / ok');
    });

    it('an email without any subject is refused rather than sent blank', async () => {
      templates.put('nosubject', { format: 'mjml', channel: 'email', body });
      expect((await failure(renderer.render(request('nosubject', 'email')))).reason).toBe('template_invalid');
    });

    it('a liquid template sent as email is a text-only email', async () => {
      templates.put('plain', { format: 'liquid', subject: 'Note', body: 'Hello {{ user.first_name | default: "you" }}\n' });
      expect(await renderer.render(request('plain', 'email'))).toEqual({ subject: 'Note', text: 'Hello you' });
    });

    it('never returns a half-rendered email: a missing variable anywhere fails it all', async () => {
      templates.put('late', { format: 'mjml', channel: 'email', subject: 'ok', body: inColumn('<mj-text>Hi</mj-text><mj-text>{{ trigger.total }}</mj-text>') });
      const error = await failure(renderer.render(request('late', 'email')));
      expect(error).toMatchObject({ reason: 'missing_variable', message: 'Template late: body uses trigger.total, which is not set and has no default' });
    });
  });

  it('push: title, body and link', async () => {
    templates.put('p', { format: 'liquid', channel: 'push', subject: 'Back in stock', url: 'https://shop.example/p/{{ trigger.product_id }}', body: '{{ trigger.name }} is back.' });
    expect(await renderer.render(request('p', 'push', { trigger: { product_id: 'p1', name: 'Shoe' } }))).toEqual({
      subject: 'Back in stock',
      text: 'Shoe is back.',
      url: 'https://shop.example/p/p1',
    });
  });

  it('compiles each template version once and picks up a new version', async () => {
    templates.put('v', { format: 'mjml', channel: 'email', subject: 's', body: inColumn('<mj-text>one</mj-text>') }, 1);
    expect((await renderer.render(request('v', 'email'))).text).toBe('one');
    // Same version, different content: only possible if the cache is used, which is the point.
    templates.put('v', { format: 'mjml', channel: 'email', subject: 's', body: inColumn('<mj-text>changed</mj-text>') }, 1);
    expect((await renderer.render(request('v', 'email'))).text).toBe('one');
    templates.put('v', { format: 'mjml', channel: 'email', subject: 's', body: inColumn('<mj-text>two</mj-text>') }, 2);
    expect((await renderer.render(request('v', 'email'))).text).toBe('two');
  });

  it('renders many recipients concurrently from one compile', async () => {
    templates.put('c', { format: 'mjml', channel: 'email', subject: 'Hi {{ user.n }}', body: inColumn('<mj-text>#{{ user.n }}</mj-text>') });
    const results = await Promise.all(Array.from({ length: 50 }, (_, n) => renderer.render(request('c', 'email', { user: { n } }))));
    expect(results.map((r) => r.text)).toEqual(Array.from({ length: 50 }, (_, n) => `#${n}`));
  });
});
