import { OutcomeUnknownDeliveryError, PermanentDeliveryError, TransientDeliveryError } from '../channel.port';
import { classifySmtpError } from './email.adapter';

const smtpError = (fields: { code?: string; responseCode?: number; response?: string; command?: string; originalCode?: string }) =>
  Object.assign(new Error(fields.response ?? 'failed'), fields);

describe('classifySmtpError', () => {
  it.each([
    ['550 at RCPT TO', 'smtp_550', true, { code: 'EENVELOPE', responseCode: 550, response: '550 No such user', command: 'RCPT TO' }],
    ['550 5.1.1 after DATA', 'smtp_550', true, { code: 'EMESSAGE', responseCode: 550, response: '550 5.1.1 Unknown mailbox', command: 'DATA' }],
    ['552 5.2.2 mailbox full after DATA', 'smtp_552', true, { code: 'EMESSAGE', responseCode: 552, response: '552 5.2.2 Mailbox full', command: 'DATA' }],
    ['550 after DATA without enhanced code', 'smtp_550', true, { code: 'EMESSAGE', responseCode: 550, response: '550 Rejected', command: 'DATA' }],
    ['554 5.7.1 spam after DATA', 'smtp_554', false, { code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 Spam', command: 'DATA' }],
    ['550 5.7.1 relaying denied at RCPT', 'smtp_550', false, { code: 'EENVELOPE', responseCode: 550, response: '550 5.7.1 Relaying denied', command: 'RCPT TO' }],
    ['552 message too large', 'smtp_552', false, { code: 'EMESSAGE', responseCode: 552, response: '552 Message too large', command: 'DATA' }],
    ['553 5.1.8 sender refused', 'smtp_553', false, { code: 'EENVELOPE', responseCode: 553, response: '553 5.1.8 Bad sender', command: 'MAIL FROM' }],
    ['535 login failed', 'smtp_535', false, { code: 'EAUTH', responseCode: 535, response: '535 5.7.8 Bad credentials', command: 'AUTH PLAIN' }],
  ])('%s is permanent: %s, unreachable %s', (_name, code, unreachable, fields) => {
    const error = classifySmtpError(smtpError(fields), true);
    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error).toMatchObject({ code, unreachable });
  });

  it.each([
    ['451 greylisting', { code: 'EENVELOPE', responseCode: 451, response: '451 Try later', command: 'RCPT TO' }],
    ['421 closing', { code: 'ECONNECTION', responseCode: 421, response: '421 Closing', command: 'CONN' }],
    ['503 bad sequence', { code: 'EENVELOPE', responseCode: 503, response: '503 Bad sequence', command: 'DATA' }],
  ])('%s is transient, even after the message was written (the server answered)', (_name, fields) => {
    expect(classifySmtpError(smtpError(fields), true)).toBeInstanceOf(TransientDeliveryError);
  });

  it('without an answer: transient before the message was written, unknown after', () => {
    const dropped = smtpError({ code: 'ECONNECTION', command: 'CONN' });
    expect(classifySmtpError(dropped, false)).toBeInstanceOf(TransientDeliveryError);
    expect(classifySmtpError(dropped, true)).toBeInstanceOf(OutcomeUnknownDeliveryError);
    expect(classifySmtpError(smtpError({ code: 'ESOCKET', originalCode: 'ECONNREFUSED' }), false)).toBeInstanceOf(TransientDeliveryError);
    expect(classifySmtpError(smtpError({ code: 'EDNS' }), false)).toBeInstanceOf(TransientDeliveryError);
    // A configuration mistake on our side, not a provider hiccup.
    expect(classifySmtpError(smtpError({ code: 'ECONFIG' }), false)).toMatchObject({ code: 'smtp_econfig', unreachable: false });
  });
});
