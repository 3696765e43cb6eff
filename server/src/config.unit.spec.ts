import { resolve } from 'node:path';
import { configFromEnv } from './config';

describe('configFromEnv', () => {
  it('defaults to port 3000 and ./data, and takes PORT and DATA_DIR when set', () => {
    expect(configFromEnv({})).toMatchObject({ port: 3000, dataDir: resolve('./data'), host: '0.0.0.0', logLevel: 'info' });
    expect(configFromEnv({ PORT: '8080', DATA_DIR: '/srv/herald' })).toMatchObject({ port: 8080, dataDir: '/srv/herald', publicUrl: 'http://localhost:8080' });
  });

  it('refuses a PORT that is not a port number', () => {
    for (const port of ['http', '-1', '65536', '30.5']) expect(() => configFromEnv({ PORT: port })).toThrow(/PORT must be a port number/);
  });
});
