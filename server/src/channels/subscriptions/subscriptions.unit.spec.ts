import type { ScenarioDefinition } from '@herald/projections';
import type { RecordedEvent } from '../../event-store/event-store.port';
import { contactFrom } from '../contact';
import { decidePreferences, decideUnsubscribe, formValues, preferenceItems, topicsOfScenarios } from './subscriptions';
import { escapeHtml } from './html';
import { preferencesPage, unsubscribeConfirmPage } from './pages';

let revision = 0;
const given = (...events: Array<[string, Record<string, unknown>]>) =>
  contactFrom(events.map(([type, data]) => ({ type, data, revision: revision++ }) as unknown as RecordedEvent));

describe('unsubscribe link', () => {
  it('unsubscribes from the channel once; nothing when already off', () => {
    expect(decideUnsubscribe(given(), 'email', 'one-click', 'm1')).toEqual([
      { type: 'Unsubscribed', data: { channel: 'email', source: 'one-click', messageId: 'm1' } },
    ]);
    expect(decideUnsubscribe(given(['Unsubscribed', { channel: 'email' }]), 'email', 'page', 'm1')).toEqual([]);
    // Unsubscribed, then subscribed again from the preference page: the same link works again.
    expect(decideUnsubscribe(given(['Unsubscribed', { channel: 'email' }], ['Subscribed', { channel: 'email' }]), 'email', 'page')).toHaveLength(1);
    // A topic unsubscribe is not the whole channel.
    expect(decideUnsubscribe(given(['Unsubscribed', { channel: 'email', topic: 'news' }]), 'email', 'page')).toHaveLength(1);
  });
});

describe('preference form', () => {
  it('lists every channel with its status, and topics the person turned off', () => {
    const contact = given(['Unsubscribed', { channel: 'sms' }], ['Unsubscribed', { channel: 'email', topic: 'newsletter' }]);
    expect(preferenceItems(contact).map((i) => [i.key, i.subscribed])).toEqual([
      ['email', true],
      ['email:newsletter', false],
      ['sms', false],
      ['whatsapp', true],
      ['telegram', true],
      ['push', true],
      ['in_app', true],
    ]);
  });

  it('emits events only for what changed, and only for keys the form showed', () => {
    const contact = given(['Unsubscribed', { channel: 'sms' }], ['Unsubscribed', { channel: 'email', topic: 'newsletter' }]);
    const shown = ['email', 'email:newsletter', 'sms', 'whatsapp', 'telegram', 'push', 'in_app'];
    expect(decidePreferences(contact, shown, ['email', 'email:newsletter', 'sms', 'telegram', 'push', 'in_app'])).toEqual([
      { type: 'Subscribed', data: { channel: 'email', topic: 'newsletter', source: 'preferences' } },
      { type: 'Subscribed', data: { channel: 'sms', source: 'preferences' } },
      { type: 'Unsubscribed', data: { channel: 'whatsapp', source: 'preferences' } },
    ]);
    expect(decidePreferences(contact, shown, ['email', 'whatsapp', 'telegram', 'push', 'in_app'])).toEqual([]);
    // A bare POST changes nothing; made-up keys are ignored.
    expect(decidePreferences(contact, [], [])).toEqual([]);
    expect(decidePreferences(contact, ['fax', 'email:other'], [])).toEqual([]);
  });

  it('offers the topics messages are sent under, each with its status, so a person can leave one and come back', () => {
    const topics = { email: ['newsletter', 'tips'], push: ['restock'] };
    const contact = given(['Unsubscribed', { channel: 'email', topic: 'tips' }], ['Unsubscribed', { channel: 'email', topic: 'old' }]);
    expect(preferenceItems(contact, topics).map((i) => [i.key, i.subscribed])).toEqual([
      ['email', true],
      ['email:newsletter', true],
      ['email:old', false],
      ['email:tips', false],
      ['sms', true],
      ['whatsapp', true],
      ['telegram', true],
      ['push', true],
      ['push:restock', true],
      ['in_app', true],
    ]);
    const shown = preferenceItems(contact, topics).map((i) => i.key);
    // Unticking a topic leaves it, and only it; ticking a left one joins it again.
    expect(decidePreferences(contact, shown, ['email', 'email:tips', 'sms', 'whatsapp', 'telegram', 'push', 'in_app'], topics)).toEqual([
      { type: 'Unsubscribed', data: { channel: 'email', topic: 'newsletter', source: 'preferences' } },
      { type: 'Subscribed', data: { channel: 'email', topic: 'tips', source: 'preferences' } },
      { type: 'Unsubscribed', data: { channel: 'push', topic: 'restock', source: 'preferences' } },
    ]);
    // Without the topics on offer, a topic the person never left cannot be changed.
    expect(decidePreferences(contact, ['email:newsletter'], [])).toEqual([]);
  });

  it('takes the topics from send steps that respect subscriptions, per channel, once each', () => {
    const definition = (id: string, steps: unknown[]) => ({ id, name: id, trigger: { event: 'x' }, steps }) as unknown as ScenarioDefinition;
    expect(
      topicsOfScenarios([
        definition('a', [
          { id: 's1', send: { channel: 'email', template: 't', topic: 'newsletter' } },
          { id: 'w', wait: '1d' },
          { id: 's2', send: { channel: 'push', template: 't', topic: 'restock' } },
          { id: 's3', send: { channel: 'email', template: 't' } },
        ]),
        definition('b', [
          { id: 's1', send: { channel: 'email', template: 't', topic: 'digest' } },
          { id: 's2', send: { channel: 'email', template: 't', topic: 'newsletter' } },
          { id: 's3', send: { channel: 'sms', template: 't', topic: 'security', transactional: true } },
        ]),
      ]),
    ).toEqual({ email: ['digest', 'newsletter'], push: ['restock'] });
  });

  it('reads single and repeated form fields, and nothing from other bodies', () => {
    expect(formValues({ a: 'x' }, 'a')).toEqual(['x']);
    expect(formValues({ a: ['x', 'y'] }, 'a')).toEqual(['x', 'y']);
    expect(formValues(undefined, 'a')).toEqual([]);
    expect(formValues({ a: 3 }, 'a')).toEqual([]);
  });
});

describe('pages', () => {
  it('escape everything they show', () => {
    expect(escapeHtml(`<script>"x"&'y'</script>`)).toBe('&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;');
    const html = preferencesPage([{ key: 'email:<b>"x"', channel: 'email', topic: '<b>"x"', subscribed: false }], true);
    expect(html).not.toContain('<b>');
    expect(html).toContain('Email: &lt;b&gt;&quot;x&quot;');
    expect(unsubscribeConfirmPage('email', 'https://h.test/preferences/a"b')).toContain('href="https://h.test/preferences/a&quot;b"');
    expect(unsubscribeConfirmPage('sms', 'x')).toContain('<h1>Unsubscribe from SMS messages?</h1>');
  });
});
