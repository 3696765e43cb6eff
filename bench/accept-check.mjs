// node bench/accept-check.mjs — how many new TCP connections a Node server accepts per event-loop
// iteration when each iteration is busy. The ingest benchmark waits for all of its connections
// before measuring because of what this shows (see bench/README.md).
import { fork } from 'node:child_process';
import net from 'node:net';

const CONNECTIONS = 100;
const ITERATION_MS = 100;

if (process.argv[2] === 'client') {
  const sockets = [];
  for (let i = 0; i < CONNECTIONS; i++) sockets.push(net.connect(Number(process.argv[3]), '127.0.0.1').on('error', () => {}));
  process.on('message', () => process.exit(0));
} else {
  let accepted = 0;
  let iterations = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    const client = fork(new URL(import.meta.url).pathname, ['client', String(server.address().port)]);
    const started = Date.now();
    // Each iteration of the event loop is kept busy for ITERATION_MS, like a loaded server.
    const busy = () => {
      const t = Date.now();
      while (Date.now() - t < ITERATION_MS);
      iterations += 1;
      if (accepted < CONNECTIONS && Date.now() - started < 15_000) return setImmediate(busy);
      console.log(
        `node ${process.version}, libuv ${process.versions.uv}: ${accepted} of ${CONNECTIONS} connections accepted in ${iterations} busy iterations of ${ITERATION_MS} ms (${(accepted / iterations).toFixed(2)} per iteration, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
      client.send('exit');
      server.close();
      process.exit(0);
    };
    setImmediate(busy);
  });
}
