import fastify, { LogController } from 'fastify';
import { Writable } from 'node:stream';
import pino from 'pino';
import { lazyRequestLogger } from './logger';

function capture(): { lines: Array<Record<string, unknown>>; logger: pino.Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('lazyRequestLogger', () => {
  it("makes pino's child only when something logs, with the request's bindings and level", () => {
    const { lines, logger } = capture();
    const child = lazyRequestLogger(logger, { reqId: 'req-1' }, { level: 'warn' });
    expect((child as unknown as { isMade: boolean }).isMade).toBe(false);
    child.info('not at this level');
    child.warn({ detail: 1 }, 'something to see');
    expect((child as unknown as { isMade: boolean }).isMade).toBe(true);
    expect(child.level).toBe('warn');
    expect(lines).toEqual([expect.objectContaining({ reqId: 'req-1', detail: 1, msg: 'something to see', level: 40 })]);
    child.child({ step: 'x' }).error('deeper');
    expect(lines[1]).toEqual(expect.objectContaining({ reqId: 'req-1', step: 'x', msg: 'deeper' }));
  });

  it("is what Fastify gives a request as its logger: a request's lines carry its id", async () => {
    const { lines, logger } = capture();
    const app = fastify({ loggerInstance: logger, childLoggerFactory: lazyRequestLogger, logController: new LogController({ disableRequestLogging: true }) });
    app.get('/quiet', async () => ({ ok: true }));
    app.get('/loud', async (request) => {
      request.log.warn('from the handler');
      return { ok: true };
    });
    await app.ready();
    expect((await app.inject({ method: 'GET', url: '/quiet' })).statusCode).toBe(200);
    expect(lines).toEqual([]);
    const response = await app.inject({ method: 'GET', url: '/loud' });
    expect(response.statusCode).toBe(200);
    expect(lines).toEqual([expect.objectContaining({ msg: 'from the handler', reqId: expect.any(String) })]);
    await app.close();
  });
});
