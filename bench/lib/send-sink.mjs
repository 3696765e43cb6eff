// bench:send — the SMTP server both sides send to, in its own process so it does not take the
// sender's CPU. It speaks real SMTP (`smtp-server`) and throws each message away unparsed, noting
// only when it arrived and how many bytes it had. IPC:
//   -> { type: 'ready', port }
//   <- { type: 'reset' }            forget what arrived so far; the next message is captured whole
//   <- { type: 'stats' }            -> { type: 'stats', count, bytes, cpuMicros }
//   <- { type: 'arrivals' }         -> { type: 'arrivals', times: [epoch ms, ...], bytes, captured }
//   <- { type: 'stop' }
// Arrival times are epoch milliseconds with sub-millisecond resolution (performance.timeOrigin +
// performance.now()), comparable with the same clock in the other processes.
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const { SMTPServer } = require('smtp-server');

const now = () => performance.timeOrigin + performance.now();
let times = [];
let bytes = 0;
/** The raw source of the first message after a reset, so the baseline can send the same content. */
let captured;
let capture = true;

const server = new SMTPServer({
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  // A pooled client keeps its connections open; close() should not wait for them long.
  closeTimeout: 200,
  onData(stream, _session, callback) {
    let size = 0;
    const keep = capture ? [] : undefined;
    capture = false;
    stream.on('data', (chunk) => {
      size += chunk.length;
      keep?.push(chunk);
    });
    stream.on('end', () => {
      times.push(now());
      bytes += size;
      if (keep) captured = Buffer.concat(keep).toString('utf8');
      callback();
    });
  },
});
server.on('error', (error) => console.error(`sink: ${error.message}`));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

process.on('message', (message) => {
  if (message.type === 'reset') {
    times = [];
    bytes = 0;
    captured = undefined;
    capture = true;
  } else if (message.type === 'stats') {
    const cpu = process.cpuUsage();
    process.send({ type: 'stats', count: times.length, bytes, cpuMicros: cpu.user + cpu.system });
  } else if (message.type === 'arrivals') {
    process.send({ type: 'arrivals', times, bytes, captured });
  } else if (message.type === 'stop') {
    // Pooled clients may keep connections open: close() ends them after closeTimeout.
    server.close(() => process.disconnect());
  }
});
process.send({ type: 'ready', port: server.server.address().port });
