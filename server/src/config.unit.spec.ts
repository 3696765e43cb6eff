import { resolve } from 'node:path';
import { configFromEnv } from './config';

describe('configFromEnv', () => {
  it('defaults to port 3000 and ./data, and takes PORT and DATA_DIR when set', () => {
    expect(configFromEnv({})).toMatchObject({ port: 3000, dataDir: resolve('./data'), host: '0.0.0.0', logLevel: 'info' });
    expect(configFromEnv({ PORT: '8080', DATA_DIR: '/srv/herald' })).toMatchObject({ port: 8080, dataDir: '/srv/herald', publicUrl: 'http://localhost:8080' });
  });

  it('runs the whole of Herald unless HERALD_ROLE=ingest, which shares the embedded log and keeps its state apart', () => {
    expect(configFromEnv({ DATA_DIR: '/srv/herald' })).toMatchObject({ role: 'all', stateDir: '/srv/herald', sqliteShared: false });
    expect(configFromEnv({ DATA_DIR: '/srv/herald', SQLITE_SHARED: '1' })).toMatchObject({ role: 'all', sqliteShared: true });
    expect(configFromEnv({ DATA_DIR: '/srv/herald', HERALD_ROLE: 'ingest', PORT: '3001' })).toMatchObject({
      role: 'ingest',
      stateDir: '/srv/herald/ingest-node-3001',
      sqliteShared: true,
    });
    expect(configFromEnv({ HERALD_ROLE: 'ingest', STATE_DIR: '/var/lib/node-a' }).stateDir).toBe('/var/lib/node-a');
    expect(() => configFromEnv({ HERALD_ROLE: 'worker' })).toThrow('HERALD_ROLE must be "all" or "ingest", got worker');
  });

  it('refuses a PORT that is not a port number', () => {
    for (const port of ['http', '-1', '65536', '30.5']) expect(() => configFromEnv({ PORT: port })).toThrow(/PORT must be a port number/);
  });

  it('takes the dispatch and webhook retry settings as whole numbers, and refuses anything else at start', () => {
    expect(configFromEnv({}).channels.dispatch).toEqual({ concurrency: 32, maxAttempts: 4, retryBaseMs: 1000 });
    expect(configFromEnv({ DISPATCH_RETRY_BASE_MS: '300000', DISPATCH_MAX_ATTEMPTS: '6' }).channels.dispatch).toMatchObject({ maxAttempts: 6, retryBaseMs: 300000 });
    expect(() => configFromEnv({ DISPATCH_RETRY_BASE_MS: '5m' })).toThrow('DISPATCH_RETRY_BASE_MS must be a positive integer, got 5m');
    expect(() => configFromEnv({ DISPATCH_MAX_ATTEMPTS: '0' })).toThrow('DISPATCH_MAX_ATTEMPTS must be a positive integer, got 0');
    expect(() => configFromEnv({ DISPATCH_CONCURRENCY: 'lots' })).toThrow('DISPATCH_CONCURRENCY must be a positive integer, got lots');
    expect(() => configFromEnv({ WEBHOOK_RETRY_BASE_MS: '1.5' })).toThrow('WEBHOOK_RETRY_BASE_MS must be a positive integer, got 1.5');
    expect(configFromEnv({})).toMatchObject({ webhookConcurrency: 32, webhookTimeoutMs: 10_000, webhookRetryBaseMs: 500 });
    expect(() => configFromEnv({ WEBHOOK_CONCURRENCY: '0' })).toThrow('WEBHOOK_CONCURRENCY must be a positive integer, got 0');
    expect(() => configFromEnv({ WEBHOOK_TIMEOUT_MS: '10s' })).toThrow('WEBHOOK_TIMEOUT_MS must be a positive integer, got 10s');
  });
});
