/** The unsubscribe and preference pages. Forms post back to their own URL (the token is the credential). */
import type { Channel } from '@herald/projections';
import { CHANNEL_LABELS, escapeHtml, page } from './html';
import type { PreferenceItem } from './subscriptions';

const SERVICE_NOTE =
  '<p><small>Messages you need for a service you use, such as receipts or security alerts, may still be sent.</small></p>';

/** How a channel reads inside a sentence: "Unsubscribe from email messages?" */
const IN_SENTENCE: Record<Channel, string> = { email: 'email', sms: 'SMS', whatsapp: 'WhatsApp', telegram: 'Telegram', push: 'push', in_app: 'in-app' };

function channelName(channel: Channel): string {
  return IN_SENTENCE[channel];
}

export function unsubscribeConfirmPage(channel: Channel, preferencesUrl: string): string {
  const name = channelName(channel);
  return page(
    `Unsubscribe from ${name} messages?`,
    `<h1>Unsubscribe from ${escapeHtml(name)} messages?</h1>
<p>You will stop receiving ${escapeHtml(name)} messages from us.</p>
<form method="post">
<input type="hidden" name="confirm" value="unsubscribe">
<button type="submit">Unsubscribe</button>
</form>
<p><a href="${escapeHtml(preferencesUrl)}">Choose which messages you get instead</a></p>`,
  );
}

export function unsubscribedPage(channel: Channel, preferencesUrl: string): string {
  const name = channelName(channel);
  return page(
    'You are unsubscribed',
    `<h1>You are unsubscribed</h1>
<p class="status" role="status">You will no longer receive ${escapeHtml(name)} messages from us.</p>
${SERVICE_NOTE}
<p><a href="${escapeHtml(preferencesUrl)}">Manage your preferences</a> (you can subscribe again there).</p>`,
  );
}

export function preferencesPage(items: PreferenceItem[], saved: boolean): string {
  const rows = items
    .map((item) => {
      const id = `pref-${item.key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const label = item.topic ? `${CHANNEL_LABELS[item.channel]}: ${item.topic}` : CHANNEL_LABELS[item.channel];
      return `<input type="hidden" name="shown" value="${escapeHtml(item.key)}">
<label${item.topic ? ' class="topic"' : ''} for="${escapeHtml(id)}"><input type="checkbox" id="${escapeHtml(id)}" name="subscribed" value="${escapeHtml(item.key)}"${item.subscribed ? ' checked' : ''}> ${escapeHtml(label)}</label>`;
    })
    .join('\n');
  return page(
    'Your message preferences',
    `<h1>Your message preferences</h1>
${saved ? '<p class="status" role="status">Your preferences are saved.</p>\n' : ''}<form method="post">
<fieldset>
<legend>Send me messages by</legend>
${rows}
</fieldset>
<button type="submit">Save preferences</button>
</form>
${SERVICE_NOTE}`,
  );
}
