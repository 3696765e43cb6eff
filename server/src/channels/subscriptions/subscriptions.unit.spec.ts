import type { RecordedEvent } from '../../event-store/event-store.port';
import { contactFrom } from '../contact';
import { decidePreferences, decideUnsubscribe, formValues, preferenceItems } from './subscriptions';
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
