/**
 * Reports written by hand as the RFCs show them (RFC 5965 appendix B.2, RFC 3464 appendix), with the
 * headers Herald puts on its emails in the original, parsed from raw bytes.
 */
import { MalformedReportError, parseMailReport } from './feedback-report';

const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');

const ORIGINAL_HEADERS = `From: Acme <shop@acme.test>
To: ada@example.com
Subject: You left something behind
Message-ID: <enr-1/reminder/0@herald.example.com>
X-Herald-Message-Id: enr-1/reminder/0
List-Unsubscribe: <https://herald.example.com/u/eyJrIjoidSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ>,
 <mailto:unsubscribe@acme.test?subject=unsubscribe%20eyJrIjoidSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8`;

const ARF = `From: <abusedesk@example.com>
Date: Thu, 8 Mar 2026 17:40:36 EDT
Subject: FW: You left something behind
To: <fbl@acme.test>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 8 Mar 2026 14:00:00 EDT.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <shop@acme.test>
Original-Rcpt-To: <ada@example.com>
Arrival-Date: Thu, 8 Mar 2026 14:00:00 EDT
Reported-Domain: acme.test
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

${ORIGINAL_HEADERS}

Hi Ada, your cart is waiting.

--part1_13d.2e68ed54_boundary--
`;

const DSN = `From: MAILER-DAEMON@relay.example (Mail Delivery System)
To: shop@acme.test
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

This is the mail system at host relay.example.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example
X-Postfix-Queue-ID: 4Q9xyz
Arrival-Date: Thu, 26 Nov 2026 09:00:00 +0000

Final-Recipient: rfc822; ada@example.com
Original-Recipient: rfc822;ada@example.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 <ada@example.com>: Recipient address
    rejected: User unknown in virtual mailbox table

--B1
Content-Type: text/rfc822-headers

${ORIGINAL_HEADERS}

--B1--
`;

describe('parseMailReport', () => {
  it('reads an ARF complaint and the Herald message and unsubscribe token in its original', async () => {
    expect(await parseMailReport(crlf(ARF), 'herald.example.com')).toEqual({
      kind: 'feedback',
      feedbackType: 'abuse',
      userAgent: 'SomeGenerator/1.0',
      arrivalDate: 'Thu, 8 Mar 2026 14:00:00 EDT',
      original: {
        heraldMessageId: 'enr-1/reminder/0',
        messageIdHeader: '<enr-1/reminder/0@herald.example.com>',
        unsubscribeToken: 'eyJrIjoidSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ',
      },
    });
  });

  it('reads a DSN with a headers-only original and folded fields; bare LF line ends too', async () => {
    expect(await parseMailReport(Buffer.from(DSN), 'herald.example.com')).toMatchObject({
      kind: 'delivery-status',
      reportingMta: 'relay.example',
      recipients: [
        {
          action: 'failed',
          status: '5.1.1',
          recipient: 'ada@example.com',
          diagnosticCode: '550 5.1.1 <ada@example.com>: Recipient address rejected: User unknown in virtual mailbox table',
        },
      ],
      original: { heraldMessageId: 'enr-1/reminder/0' },
    });
  });

  it("takes Herald's message id from a Message-ID of Herald's host when X-Herald-Message-Id was stripped", async () => {
    const report = await parseMailReport(crlf(ARF.replace(/^X-Herald-Message-Id:.*\n/m, '')), 'herald.example.com');
    expect(report.original.heraldMessageId).toBe('enr-1/reminder/0');
    const foreign = await parseMailReport(crlf(ARF.replace(/^X-Herald-Message-Id:.*\n/m, '')), 'other.example.com');
    expect(foreign.original.heraldMessageId).toBeUndefined();
  });

  it('names what is wrong with a report it cannot use', async () => {
    const problem = async (raw: string) => ((await parseMailReport(crlf(raw), 'herald.example.com').catch((e: unknown) => e)) as Error).message;
    expect(await problem('')).toMatch(/empty/);
    expect(await problem('Subject: hi\n\nplain mail\n')).toMatch(/must be multipart\/report/);
    expect(await problem(ARF.replace('report-type=feedback-report', 'report-type=disposition-notification'))).toMatch(/disposition-notification is not handled/);
    expect(await problem(ARF.replace('Feedback-Type: abuse\n', ''))).toMatch(/no Feedback-Type/);
    expect(await problem(ARF.replace('Content-Type: message/rfc822', 'Content-Type: text/plain'))).toMatch(/no original message/);
    expect(await problem(DSN.replace('Action: failed\n', ''))).toMatch(/no recipient with an Action/);
    await expect(parseMailReport(Buffer.alloc(0), 'h')).rejects.toBeInstanceOf(MalformedReportError);
  });
});
