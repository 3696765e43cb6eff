/**
 * Every template of examples/templates/ compiles in strict mode and renders for a person with no
 * traits and a trigger with no properties (each optional variable has its default), and every
 * template the example scenarios name is there, for the channel the scenario sends it on.
 */
import { parseScenarioDefinition } from '@herald/projections';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { RenderRequest } from '../channels/renderer.port';
import { EXAMPLE_TEMPLATES_DIR, readTemplateDir } from './seed-templates';
import type { StoredTemplate } from './template';
import { compileTemplate } from './template-compiler';
import { TemplateRenderer } from './template-renderer';

const SCENARIOS_DIR = join(__dirname, '../../../examples/scenarios');
const examples = readTemplateDir(EXAMPLE_TEMPLATES_DIR);
const stored = new Map<string, StoredTemplate>(examples.map(({ id, parsed }) => [id, { id, version: 1, savedAt: 'x', ...parsed.content }]));
const renderer = new TemplateRenderer({ get: async (_workspace, id) => stored.get(id) });

const message = { id: 'msg-1', unsubscribe_url: 'https://herald.example/u?t=abc&s=1', preferences_url: 'https://herald.example/preferences?t=abc' };
const empty = (channel: RenderRequest['channel'], template: string, subject?: string): RenderRequest => ({
  workspace: 'default',
  channel,
  template,
  subject,
  variables: { user: {}, event: {}, trigger: {}, message },
});

/** Every send step of the example scenarios: template, channel and the step's own subject. */
function scenarioSends(): Array<{ scenario: string; template: string; channel: RenderRequest['channel']; subject?: string }> {
  const sends: Array<{ scenario: string; template: string; channel: RenderRequest['channel']; subject?: string }> = [];
  for (const file of readdirSync(SCENARIOS_DIR).filter((f) => f.endsWith('.yaml'))) {
    const parsed = parseScenarioDefinition(parse(readFileSync(join(SCENARIOS_DIR, file), 'utf8')));
    if (!parsed.ok) throw new Error(`${file} does not parse`);
    for (const step of parsed.definition.steps) {
      if (!('send' in step)) continue;
      const send = step.send as { channel: RenderRequest['channel']; template?: string; subject?: string; variants?: Array<{ template: string; subject?: string }> };
      for (const variant of send.variants ?? [send as { template: string; subject?: string }]) {
        sends.push({ scenario: parsed.definition.id, template: variant.template, channel: send.channel, subject: variant.subject ?? send.subject });
      }
    }
  }
  return sends;
}

describe('examples/templates', () => {
  it('holds one file per template the example scenarios use, and no others', () => {
    const used = new Set(scenarioSends().map((send) => send.template));
    expect([...stored.keys()].sort()).toEqual([...used].sort());
    expect(used.size).toBe(18);
  });

  it.each(examples.map(({ id }) => id))('%s compiles with MJML in strict mode', async (id) => {
    const result = await compileTemplate(stored.get(id)!);
    expect(result.ok ? [] : result.problems).toEqual([]);
  });

  it.each(scenarioSends().map((send) => [`${send.scenario}: ${send.template} (${send.channel})`, send] as const))(
    '%s renders for an empty user and trigger',
    async (_name, send) => {
      const template = stored.get(send.template)!;
      expect(template.channel).toBe(send.channel);
      // Subjects that need a trigger property (`{{ trigger.name }}`) are the scenario's, checked with it; here the template's own.
      const needsTrigger = send.subject !== undefined && /\{\{\s*trigger\.\w+\s*\}\}/.test(send.subject);
      const content = await renderer.render(empty(send.channel, send.template, needsTrigger ? undefined : send.subject));
      expect(content.text.length).toBeGreaterThan(20);
      expect(content.text).not.toMatch(/\{\{|\{%|%\}|\}\}/);
      if (send.channel === 'email') {
        expect(content.subject).toBeTruthy();
        expect(content.html).toContain('<!doctype html>');
        expect(content.html).not.toMatch(/\{\{|\{%|HLQ/);
        expect(content.html).toContain(`<title>${content.subject}</title>`);
        if (send.template !== 'service-notification') {
          // Every marketing email links its unsubscribe URL, in the HTML (escaped) and the text part.
          expect(content.html).toContain('href="https://herald.example/u?t=abc&amp;s=1"');
          expect(content.text).toContain('https://herald.example/u?t=abc&s=1');
        }
      } else {
        expect(content.html).toBeUndefined();
      }
      if (send.channel === 'push') {
        expect(content.subject).toBeTruthy();
        expect(content.url).toMatch(/^https:\/\//);
      }
    },
  );

  it('personalises with traits and trigger properties, and HTML-escapes them in the email only', async () => {
    const content = await renderer.render({
      ...empty('email', 'cart-plain', "You left something behind, {{ user.first_name | default: 'friend' }}"),
      variables: {
        user: { first_name: 'Ada <3' },
        event: {},
        trigger: { cart_id: 'c-42', currency: 'EUR', products: [{ name: 'Trail Shoe', price: 89, quantity: 2 }, { name: 'Socks', price: 9 }] },
        message,
      },
    });
    expect(content.subject).toBe('You left something behind, Ada <3');
    expect(content.html).toContain('Hi Ada &lt;3, your cart is saved');
    expect(content.html).toContain('href="https://shop.example.com/cart/c-42"');
    expect(content.html).toContain('Trail Shoe &times; 2');
    expect(content.text).toContain('Hi Ada <3, your cart is saved');
    expect(content.text).toContain('Return to your cart (https://shop.example.com/cart/c-42)');
    // The loop's rows stay one line each in the text part.
    expect(content.text).toContain('Trail Shoe × 2 89 EUR\nSocks 9 EUR\n\nReturn to your cart');
  });

  it('the back-in-stock push takes its title from the step and its link from the trigger', async () => {
    const content = await renderer.render({
      ...empty('push', 'back-in-stock-push', '{{ trigger.name }} is back'),
      variables: { user: {}, event: {}, trigger: { product_id: 'p1', name: 'Trail Shoe', quantity: 5 }, message },
    });
    expect(content).toEqual({
      subject: 'Trail Shoe is back',
      text: "Trail Shoe is available again. Tap to get yours before it's gone.",
      url: 'https://shop.example.com/products/p1',
    });
  });
});
