/**
 * Stopping the server (SIGTERM runs `app.close()`) answers the requests under way and then ends:
 * it does not wait for the keep-alive connections those requests came on to time out.
 */
import { Agent, request as httpRequest } from 'node:http';
import { basicAuth, startTestApp, TEST_WRITE_KEY } from '../test-support/herald-test-app';

it('answers a tracking call under way when it stops, then closes that connection and ends', async () => {
  const herald = await startTestApp();
  const url = new URL(`${herald.url}/v1/track`);
  const body = JSON.stringify({ userId: 'closing', event: 'Stopped', messageId: 'm-closing' });
  // A keep-alive request whose body is still coming when the server is told to stop, from a client
  // that keeps idle connections open as long as the server does (as undici, which reads Keep-Alive).
  const agent = new Agent({ keepAlive: true });
  const call = httpRequest({
    agent,
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'keep-alive', authorization: basicAuth(TEST_WRITE_KEY) },
  });
  const socketClosed = new Promise<void>((resolve) => call.once('socket', (socket) => socket.once('close', () => resolve())));
  const answered = new Promise<{ status?: number; text: string }>((resolve, reject) => {
    call.once('response', (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk)).on('end', () => resolve({ status: response.statusCode, text }));
    });
    call.once('error', reject);
  });
  const arrived = new Promise((resolve) => herald.app.getHttpServer().once('request', resolve));
  call.write(body.slice(0, 10));
  await arrived;
  const closed = herald.destroy();
  call.end(body.slice(10));

  const answer = await answered;
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.text)).toMatchObject({ success: true });
  // Without closing it, the server would keep the idle connection for keepAliveTimeout (72 s), and
  // its close would wait as long: this test would time out.
  await socketClosed;
  await closed;
  agent.destroy();
}, 20_000);
