// bench:send — the baseline, in its own process: pooled nodemailer sending to the sink as fast as it
// can, configured as Herald's EmailAdapter configures it (pool, maxConnections 5, maxRequeues 0) and
// with as many sends in flight as Herald's dispatcher allows (DISPATCH_CONCURRENCY, 32). Every
// message has the content of one email Herald sent (captured whole at the sink): the same subject,
// HTML, text and List-Unsubscribe headers, so nodemailer builds a MIME message of the same size.
// argv: JSON { smtpUrl, source, warmup, concurrency, maxConnections }. IPC:
//   -> { type: 'warm', warmRate } after `warmup` sends;  <- { type: 'go', count }
//   -> { type: 'done', started, finished, cpuMicros, failed } (epoch ms, see send-sink.mjs)
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const nodemailer = require('nodemailer');
const { simpleParser } = require('mailparser');

const { smtpUrl, source, warmup, concurrency, maxConnections } = JSON.parse(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();

const mail = await simpleParser(source);
const header = (name) => mail.headerLines.find((h) => h.key === name)?.line.replace(/^[^:]+:\s*/, '').replace(/\r?\n[ \t]+/g, ' ');
const headers = {
  'X-Herald-Message-Id': header('x-herald-message-id') ?? 'raw',
  'List-Unsubscribe': header('list-unsubscribe'),
  'List-Unsubscribe-Post': header('list-unsubscribe-post'),
};
const from = mail.from?.text ?? 'Acme <shop@acme.test>';
const subject = mail.subject ?? '';
const html = typeof mail.html === 'string' ? mail.html : undefined;
const text = mail.text ?? '';

const transport = nodemailer.createTransport({ url: smtpUrl, pool: true, maxConnections, maxRequeues: 0 });

let failed = 0;
async function send(first, n, tag) {
  let next = first;
  const worker = async () => {
    while (next < first + n) {
      const i = next++;
      try {
        await transport.sendMail({
          from,
          to: `${tag}-${i}@example.test`,
          subject,
          text,
          html,
          messageId: `<raw-${tag}-${i}@herald.bench.test>`,
          headers,
        });
      } catch (error) {
        failed += 1;
        if (failed === 1) console.error(`raw send failed: ${error.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const tag = `r${process.pid}`;
const warmStarted = now();
await send(0, warmup, `${tag}w`);
const warmRate = (warmup / (now() - warmStarted)) * 1000;
const go = new Promise((resolve) => process.once('message', resolve));
process.send({ type: 'warm', warmRate });
const { count } = await go;
const cpu = process.cpuUsage();
const started = now();
await send(0, count, tag);
const finished = now();
const used = process.cpuUsage(cpu);
transport.close();
process.on('message', (message) => message.type === 'stop' && process.disconnect());
process.send({ type: 'done', started, finished, cpuMicros: used.user + used.system, failed });
