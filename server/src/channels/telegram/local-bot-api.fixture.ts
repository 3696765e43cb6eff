/**
 * Test fixture: a real HTTP server on 127.0.0.1 speaking enough of the Telegram Bot API
 * (`POST /bot<token>/<method>`, JSON in, `{ ok, result }` out) for grammy's real client to talk to.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BotApiCall {
  method: string;
  payload: Record<string, any>;
}

export const TEST_BOT = { id: 7000001, is_bot: true, first_name: 'Herald', username: 'herald_test_bot' };

export class LocalBotApi {
  readonly calls: BotApiCall[] = [];
  /** Chats that blocked the bot: sendMessage answers 403. */
  readonly blocked = new Set<number>();
  /** Chats where sendMessage answers 429 (Too Many Requests). */
  readonly throttled = new Set<number>();
  /** Chats where sendMessage answers 400 (chat not found). */
  readonly missing = new Set<number>();
  /** Chats where sendMessage never answers (the client times out). */
  readonly hanging = new Set<number>();
  /** Chats where sendMessage answers 500 (Internal Server Error). */
  readonly failing = new Set<number>();
  private messageIds = 0;

  private constructor(
    private readonly server: Server,
    readonly token: string,
    readonly url: string,
  ) {}

  static async start(token: string): Promise<LocalBotApi> {
    let api: LocalBotApi | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const answer = api!.answer(request.method ?? '', request.url ?? '', Buffer.concat(chunks).toString('utf8'));
        if (!answer) return;
        const [status, body] = answer;
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = new LocalBotApi(server, token, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return api;
  }

  /** The sendMessage calls made so far. */
  sent(): Array<{ chat_id: number; text: string }> {
    return this.calls.filter((call) => call.method === 'sendMessage').map((call) => call.payload as { chat_id: number; text: string });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(httpMethod: string, path: string, text: string): [number, unknown] | undefined {
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(path);
    if (httpMethod !== 'POST' || !match) return [404, { ok: false, error_code: 404, description: 'Not Found' }];
    if (match[1] !== this.token) return [401, { ok: false, error_code: 401, description: 'Unauthorized' }];
    const method = match[2];
    const payload = text ? (JSON.parse(text) as Record<string, any>) : {};
    this.calls.push({ method, payload });
    switch (method) {
      case 'getMe':
        return [200, { ok: true, result: TEST_BOT }];
      case 'setWebhook':
        return [200, { ok: true, result: true, description: 'Webhook was set' }];
      case 'sendMessage': {
        const chatId = Number(payload.chat_id);
        if (this.hanging.has(chatId)) return undefined;
        if (this.blocked.has(chatId)) return [403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' }];
        if (this.throttled.has(chatId)) {
          return [429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } }];
        }
        if (this.missing.has(chatId)) return [400, { ok: false, error_code: 400, description: 'Bad Request: chat not found' }];
        if (this.failing.has(chatId)) return [500, { ok: false, error_code: 500, description: 'Internal Server Error' }];
        return [
          200,
          {
            ok: true,
            result: { message_id: ++this.messageIds, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: 'private' }, from: TEST_BOT, text: payload.text },
          },
        ];
      }
      default:
        return [400, { ok: false, error_code: 400, description: `Bad Request: method ${method} is not served by this test server` }];
    }
  }
}

/** A `/start <payload>` message update, as Telegram sends it to a webhook. */
export function startUpdate(updateId: number, chatId: number, payload: string, username = 'ada_tg'): Record<string, unknown> {
  const text = payload ? `/start ${payload}` : '/start';
  return {
    update_id: updateId,
    message: {
      message_id: updateId,
      date: 1767225600,
      chat: { id: chatId, type: 'private', username, first_name: 'Ada' },
      from: { id: chatId, is_bot: false, first_name: 'Ada', username },
      text,
      entities: [{ type: 'bot_command', offset: 0, length: 6 }],
    },
  };
}
