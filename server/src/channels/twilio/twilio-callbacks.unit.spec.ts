import {
  keywordAction,
  outcomeOfStatus,
  parseTwilioAddress,
  referenceFromQuery,
  statusCallbackUrl,
  twilioAddress,
} from './twilio-callbacks';

describe('Twilio callbacks', () => {
  it('maps statuses: delivered, the final failures with their code, WhatsApp read; the rest is not recorded', () => {
    expect(outcomeOfStatus('delivered')).toEqual({ type: 'MessageDelivered' });
    expect(outcomeOfStatus('undelivered', '30003')).toEqual({ type: 'MessageFailed', errorCode: '30003' });
    expect(outcomeOfStatus('failed')).toEqual({ type: 'MessageFailed' });
    expect(outcomeOfStatus('read')).toEqual({ type: 'MessageOpened' });
    for (const status of ['accepted', 'scheduled', 'queued', 'sending', 'sent', 'canceled', 'receiving', 'received', undefined, 'whatever']) {
      expect(outcomeOfStatus(status)).toEqual({ type: 'ignored' });
    }
  });

  it("recognises Twilio's opt-out and opt-in keywords on the whole trimmed body, in any case", () => {
    for (const body of ['STOP', 'stop', ' Stop\n', 'STOPALL', 'unsubscribe', 'Cancel', 'END', 'quit']) {
      expect(keywordAction(body)).toEqual({ action: 'unsubscribe', keyword: body.trim().toUpperCase() });
    }
    expect(keywordAction('start')).toEqual({ action: 'subscribe', keyword: 'START' });
    expect(keywordAction('UNSTOP')).toEqual({ action: 'subscribe', keyword: 'UNSTOP' });
    for (const body of ['please stop', 'STOP IT', 'yes', '', undefined, 'hello']) expect(keywordAction(body)).toBeUndefined();
  });

  it('tells SMS from WhatsApp senders and accepts only E.164 numbers', () => {
    expect(parseTwilioAddress('+4915112345678')).toEqual({ channel: 'sms', phone: '+4915112345678' });
    expect(parseTwilioAddress('whatsapp:+14155550100')).toEqual({ channel: 'whatsapp', phone: '+14155550100' });
    for (const bad of ['4915112345678', '+0123456789', '+1 415 555 0100', 'whatsapp:', 'messenger:+14155550100', undefined]) {
      expect(parseTwilioAddress(bad)).toBeUndefined();
    }
    expect(twilioAddress('whatsapp', '+14155550100')).toBe('whatsapp:+14155550100');
    expect(twilioAddress('whatsapp', 'whatsapp:+14155550100')).toBe('whatsapp:+14155550100');
    expect(twilioAddress('sms', '+14155550100')).toBe('+14155550100');
  });

  it('carries the message reference in the callback URL and reads it back; anything malformed is no reference', () => {
    const ref = { workspace: 'default', person: 'user:ada & co?=', messageId: 'm-1', channel: 'sms' as const };
    const url = statusCallbackUrl('https://herald.example.com', ref);
    expect(url.startsWith('https://herald.example.com/webhooks/twilio/status?')).toBe(true);
    expect(referenceFromQuery(new URL(url).searchParams)).toEqual(ref);
    const query = (change: Record<string, string>) => new URLSearchParams({ w: 'default', p: 'user:ada', m: 'm-1', c: 'sms', ...change });
    expect(referenceFromQuery(query({ w: 'Bad-Workspace' }))).toBeUndefined();
    expect(referenceFromQuery(query({ p: 'ada' }))).toBeUndefined();
    expect(referenceFromQuery(query({ m: '' }))).toBeUndefined();
    expect(referenceFromQuery(query({ c: 'email' }))).toBeUndefined();
  });
});
