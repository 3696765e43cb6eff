import { createHeraldApp } from './app';
import { configFromEnv } from './config';

async function main(): Promise<void> {
  const config = configFromEnv();
  const app = await createHeraldApp({
    config,
    onFirstStart: ({ writeKey, adminToken }) => {
      // Printed once, on the first start with an empty data folder; only hashes are stored.
      const lines = ['', 'Herald first start: save these, they are not shown again.'];
      if (writeKey) lines.push(`  Write key (workspace "default"): ${writeKey}`);
      if (adminToken) lines.push(`  Admin token (Authorization: Bearer ...): ${adminToken}`);
      console.log(lines.join('\n') + '\n');
    },
  });
  await app.listen(config.port, config.host);
  console.log(
    config.role === 'ingest'
      ? `Herald is listening on http://localhost:${config.port} as an ingestion node: the tracking API only (docs at /docs)`
      : `Herald is listening on http://localhost:${config.port} (API docs at /docs)`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
