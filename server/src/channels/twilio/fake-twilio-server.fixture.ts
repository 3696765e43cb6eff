/**
 * A local HTTP server speaking Twilio's Messages API for tests: form-encoded
 * `POST /2010-04-01/Accounts/{sid}/Messages.json` with Basic auth, Twilio-shaped JSON answers and
 * errors, and status callbacks and inbound messages posted back, signed with Twilio's algorithm.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { E164 } from './twilio-callbacks';

export interface ReceivedMessage {
  sid: string;
  accountSid: string;
  /** The Basic auth credentials the client sent, decoded. */
  username: string;
  password: string;
  contentType: string | undefined;
  to: string;
  from: string;
  body: string;
  statusCallback?: string;
  /** Every form field, as sent. */
  params: Record<string, string>;
}

export interface FakeTwilioOptions {
  accountSid: string;
  authToken: string;
  /** Statuses to post to the message's StatusCallback after each accepted send, in order. */
  autoStatuses?: string[];
}

type Failure = { status: number; code?: number; message: string };

export class FakeTwilioServer {
  readonly messages: ReceivedMessage[] = [];
  /** Answers of the status callbacks sent so far. */
  readonly callbackResponses: Array<{ sid: string; status: string; httpStatus: number }> = [];
  private server?: Server;
  private readonly failures: Failure[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private readonly routes: Array<{ from: string; to: string }> = [];
  url = '';
  /** Statuses posted to the StatusCallback after each accepted send (changeable between sends). */
  autoStatuses: string[];

  constructor(private readonly options: FakeTwilioOptions) {
    this.autoStatuses = options.autoStatuses ?? [];
  }

  /**
   * Delivers requests for URLs starting with `from` to `to` instead, still signing the URL as given,
   * the way a reverse proxy in front of Herald would (PUBLIC_URL is the proxy, Herald listens elsewhere).
   */
  route(from: string, to: string): void {
    this.routes.push({ from, to });
  }

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error) => {
        response.statusCode = 500;
        response.end(JSON.stringify({ code: 20500, message: String(error), status: 500 }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await this.settled();
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  /** The next send answers with this error instead (a 429, a 500, a Twilio 4xx code...). */
  failNext(status: number, code?: number, message = 'Simulated failure'): void {
    this.failures.push({ status, code, message });
  }

  /** Waits for the automatic callbacks posted so far. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Posts a status callback for a message this server accepted, signed unless told otherwise. */
  async sendStatus(sid: string, status: string, extra: { errorCode?: string; signature?: string | null } = {}): Promise<Response> {
    const message = this.messages.find((m) => m.sid === sid);
    if (!message?.statusCallback) throw new Error(`No message ${sid} with a StatusCallback`);
    const params: Record<string, string> = {
      AccountSid: this.options.accountSid,
      ApiVersion: '2010-04-01',
      From: message.from,
      To: message.to,
      MessageSid: sid,
      SmsSid: sid,
      MessageStatus: status,
      SmsStatus: status,
      ...(message.from.startsWith('whatsapp:') ? { ChannelPrefix: 'whatsapp' } : {}),
      ...(extra.errorCode ? { ErrorCode: extra.errorCode } : {}),
    };
    const response = await this.postForm(message.statusCallback, params, extra.signature);
    this.callbackResponses.push({ sid, status, httpStatus: response.status });
    return response;
  }

  /** Posts an inbound message (someone texting the Twilio number) to `url`, as Twilio's messaging webhook does. */
  async sendInbound(url: string, message: { from: string; to: string; body: string; sid?: string }, signature?: string | null): Promise<Response> {
    const sid = message.sid ?? newSid('SM');
    return this.postForm(
      url,
      {
        ToCountry: 'US',
        SmsMessageSid: sid,
        NumMedia: '0',
        SmsSid: sid,
        SmsStatus: 'received',
        Body: message.body,
        To: message.to,
        NumSegments: '1',
        MessageSid: sid,
        AccountSid: this.options.accountSid,
        From: message.from,
        ApiVersion: '2010-04-01',
      },
      signature,
    );
  }

  /** Posts a form as Twilio does. `signature`: undefined signs correctly, null sends none, a string is sent as it is. */
  postForm(url: string, params: Record<string, string>, signature?: string | null): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'TwilioProxy/1.1' };
    if (signature !== null) headers['x-twilio-signature'] = signature ?? twilio.getExpectedTwilioSignature(this.options.authToken, url, params);
    const route = this.routes.find((r) => url.startsWith(r.from));
    const target = route ? `${route.to}${url.slice(route.from.length)}` : url;
    return fetch(target, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (request.method !== 'POST' || !match) return this.reply(response, 404, { code: 20404, message: 'The requested resource was not found', status: 404 });

    const [username, password] = basicCredentials(request.headers.authorization);
    if (username !== this.options.accountSid || password !== this.options.authToken || match[1] !== this.options.accountSid) {
      return this.reply(response, 401, { code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    }
    const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const failure = this.failures.shift();
    if (failure) return this.reply(response, failure.status, { code: failure.code, message: failure.message, status: failure.status });
    const to = params.To ?? '';
    if (!E164.test(to.replace(/^whatsapp:/, ''))) {
      return this.reply(response, 400, {
        code: 21211,
        message: `Invalid 'To' Phone Number: ${to}`,
        more_info: 'https://www.twilio.com/docs/errors/21211',
        status: 400,
      });
    }
    if (!params.Body) return this.reply(response, 400, { code: 21602, message: 'Message body is required.', status: 400 });

    const sid = newSid('SM');
    const received: ReceivedMessage = {
      sid,
      accountSid: match[1],
      username,
      password,
      contentType: request.headers['content-type'],
      to,
      from: params.From,
      body: params.Body,
      statusCallback: params.StatusCallback,
      params,
    };
    this.messages.push(received);
    const now = new Date().toUTCString();
    this.reply(response, 201, {
      account_sid: match[1],
      api_version: '2010-04-01',
      body: params.Body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: params.From,
      messaging_service_sid: null,
      num_media: '0',
      num_segments: '1',
      price: null,
      price_unit: 'USD',
      sid,
      status: 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${match[1]}/Messages/${sid}/Media.json` },
      to,
      uri: `/2010-04-01/Accounts/${match[1]}/Messages/${sid}.json`,
    });
    // Like Twilio, report statuses only after the create call has been answered.
    if (received.statusCallback && this.autoStatuses.length > 0) {
      const statuses = [...this.autoStatuses];
      const sending = (async () => {
        if (!response.writableFinished) await new Promise((resolve) => response.once('finish', resolve));
        await new Promise((resolve) => setTimeout(resolve, 20));
        for (const status of statuses) await this.sendStatus(sid, status, status === 'undelivered' || status === 'failed' ? { errorCode: '30003' } : {});
      })().catch(() => undefined);
      this.pending.add(sending);
      void sending.finally(() => this.pending.delete(sending));
    }
  }

  private reply(response: ServerResponse, status: number, body: unknown): void {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }
}

function basicCredentials(header: string | undefined): [string, string] {
  const match = /^Basic (.+)$/i.exec(header ?? '');
  if (!match) return ['', ''];
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

function newSid(prefix: string): string {
  return `${prefix}${randomBytes(16).toString('hex')}`;
}
