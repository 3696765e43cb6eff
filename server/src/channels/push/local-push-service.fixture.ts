/**
 * Test fixture: a real HTTPS push service on 127.0.0.1 with a self-signed certificate (made with the
 * openssl CLI), and browser-side subscribers whose ECDH keys and auth secrets are made here, so the
 * service can check the VAPID signature and decrypt the aes128gcm payload exactly as a browser would.
 */
import { createECDH, createPublicKey, type ECDH, randomBytes, verify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decrypt } from 'http_ece';
import type { PushSubscriptionRecord } from '../channel.port';

export interface ReceivedPush {
  headers: Record<string, string | string[] | undefined>;
  /** The decrypted payload, parsed as JSON. */
  payload: any;
  /** Claims of the VAPID JWT, whose signature was checked against `k`. */
  vapid: { publicKey: string; claims: { aud: string; exp: number; sub: string } };
}

export interface Subscriber {
  subscription: PushSubscriptionRecord;
  received: ReceivedPush[];
  /** What the service answers for this subscription: 201, or 404/410 (gone), 429, 500. */
  status: number;
}

export class LocalPushService {
  private readonly subscribers = new Map<string, Subscriber & { ecdh: ECDH; auth: Buffer }>();
  /** Requests the service refused (bad VAPID, undecryptable payload), with the reason. */
  readonly refused: string[] = [];
  private messages = 0;

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly ca: Buffer,
    readonly url: string,
  ) {}

  static async start(): Promise<LocalPushService> {
    const dir = mkdtempSync(join(tmpdir(), 'herald-push-'));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    let service: LocalPushService | undefined;
    const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const [status, headers] = service!.receive(request.method ?? '', request.url ?? '', request.headers, Buffer.concat(chunks));
        response.writeHead(status, headers).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    service = new LocalPushService(server, dir, readFileSync(cert), `https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return service;
  }

  /** An https.Agent that trusts this service's certificate. */
  agent(): Agent {
    return new Agent({ ca: this.ca });
  }

  /** A browser subscription (fresh P-256 key pair and 16-byte auth secret) at /push/<name>. */
  subscriber(name: string, status = 201): Subscriber {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    const subscriber = {
      subscription: { endpoint: `${this.url}/push/${name}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } },
      received: [],
      status,
      ecdh,
      auth,
    };
    this.subscribers.set(`/push/${name}`, subscriber);
    return subscriber;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) =>
      this.server.close(() => {
        rmSync(this.dir, { recursive: true, force: true });
        resolve();
      }),
    );
  }

  private receive(method: string, path: string, headers: ReceivedPush['headers'], body: Buffer): [number, Record<string, string>] {
    const subscriber = this.subscribers.get(path);
    if (method !== 'POST' || !subscriber) return [404, {}];
    const refuse = (reason: string): [number, Record<string, string>] => (this.refused.push(reason), [400, {}]);
    if (headers['content-encoding'] !== 'aes128gcm') return refuse(`content-encoding ${headers['content-encoding']}`);
    if (!headers.ttl) return refuse('no TTL header');
    const vapid = checkVapid(String(headers.authorization ?? ''), this.url);
    if (typeof vapid === 'string') return refuse(vapid);
    let payload: unknown;
    try {
      payload = JSON.parse(decrypt(body, { version: 'aes128gcm', privateKey: subscriber.ecdh, authSecret: subscriber.auth }).toString('utf8'));
    } catch (error) {
      return refuse(`payload: ${(error as Error).message}`);
    }
    subscriber.received.push({ headers, payload, vapid });
    // A throttling service says how long to wait, as push services do.
    if (subscriber.status !== 201) return [subscriber.status, subscriber.status === 429 ? { 'retry-after': '30' } : {}];
    return [201, { location: `${this.url}/message/${++this.messages}` }];
  }
}

/** `vapid t=<ES256 JWT>, k=<public key>` (RFC 8292): checks the signature and the audience. */
function checkVapid(authorization: string, origin: string): ReceivedPush['vapid'] | string {
  const match = /^vapid t=([\w-]+)\.([\w-]+)\.([\w-]+), k=([\w-]+)$/.exec(authorization);
  if (!match) return `authorization ${authorization}`;
  const [, header, body, signature, k] = match;
  const point = Buffer.from(k, 'base64url');
  const key = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') },
    format: 'jwk',
  });
  if (!verify('sha256', Buffer.from(`${header}.${body}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'))) {
    return 'VAPID signature does not verify';
  }
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { aud: string; exp: number; sub: string };
  if (claims.aud !== origin) return `VAPID audience ${claims.aud}`;
  return { publicKey: k, claims };
}
