/**
 * Test support: a real SMTP server (`smtp-server`) on 127.0.0.1 that parses what it receives with
 * `mailparser`, and can refuse recipients with a chosen reply. Also a bare server that drops the
 * connection right after the message was sent, for the unknown-outcome case.
 */
import { type ParsedMail, simpleParser } from 'mailparser';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Rejection {
  code: number;
  message: string;
}

export interface TestSmtpServer {
  url: string;
  port: number;
  received: ParsedMail[];
  /** The raw source of each received message, in the same order (to embed in a report). */
  sources: Buffer[];
  /** Resolves once `count` messages have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ParsedMail[]>;
  close(): Promise<void>;
}

export async function startSmtpServer(
  options: {
    rejectRecipient?: (address: string) => Rejection | undefined;
    rejectMessage?: (mail: ParsedMail) => Rejection | undefined;
    /** Runs once a message is received, before the server answers it (to stop the sender there). */
    beforeAnswer?: (mail: ParsedMail) => Promise<void> | void;
  } = {},
): Promise<TestSmtpServer> {
  const received: ParsedMail[] = [];
  const sources: Buffer[] = [];
  const waiters: Array<() => void> = [];
  const smtp = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    // close() waits this long for clients to hang up (a pooled client keeps its connection open).
    closeTimeout: 1000,
    onRcptTo(address, _session, callback) {
      const rejection = options.rejectRecipient?.(address.address);
      callback(rejection ? withCode(rejection) : undefined);
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      new Promise<void>((resolve, reject) => stream.on('end', resolve).on('error', reject))
        .then(() => simpleParser(Buffer.concat(chunks)))
        .then(async (mail) => {
          const rejection = options.rejectMessage?.(mail);
          if (rejection) throw withCode(rejection);
          received.push(mail);
          sources.push(Buffer.concat(chunks));
          waiters.splice(0).forEach((wake) => wake());
          await options.beforeAnswer?.(mail);
        })
        .then(
          () => callback(),
          (error: Error) => callback(error),
        );
    },
  });
  // A client that goes away mid-session (a sender killed on purpose) is not the server's failure.
  smtp.on('error', () => undefined);
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    received,
    sources,
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${count} messages (got ${received.length})`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return received;
    },
    close: () => new Promise<void>((resolve) => smtp.close(() => resolve())),
  };
}

function withCode(rejection: Rejection): Error {
  return Object.assign(new Error(rejection.message), { responseCode: rejection.code });
}

/**
 * Speaks just enough SMTP to take a message, then closes the connection instead of answering the
 * final dot: the client cannot know whether the message was accepted. Counts the messages it took.
 * With `silent`, it keeps the connection open and never answers the final dot.
 */
export async function startDroppingSmtpServer(options: { silent?: boolean } = {}): Promise<{ url: string; messages: () => number; close(): Promise<void> }> {
  let messages = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let inData = false;
    let buffer = '';
    socket.write('220 localhost ESMTP test\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end === -1) return;
          messages++;
          if (options.silent) buffer = '';
          else socket.destroy();
          return;
        }
        const newline = buffer.indexOf('\r\n');
        if (newline === -1) return;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') socket.write('250-localhost\r\n250 8BITMIME\r\n');
        else if (verb === 'HELO' || verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') socket.write('250 OK\r\n');
        else if (verb === 'DATA') {
          inData = true;
          socket.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('502 not implemented\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages: () => messages,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
