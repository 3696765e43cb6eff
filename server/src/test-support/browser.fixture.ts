/**
 * A real browser for the specs that drive one (Debian's Chromium, through playwright-core, which
 * cannot download a browser here), and a website on an origin of its own, so that every call the
 * page makes to Herald is cross-origin, as from a customer's site.
 */
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`This suite drives a real browser: install Chromium (apt-get install -y chromium, as .ci/run does) or set CHROMIUM_PATH (tried ${CHROMIUM})`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface BrowserAndSite {
  browser: Browser;
  /** The site's origin, e.g. `http://127.0.0.1:41234`. */
  origin: string;
  /** Closes the browser and the site. */
  close(): Promise<void>;
}

/** The browser, and a site on 127.0.0.1 answering with `serve`. */
export async function startBrowserAndSite(serve: (request: IncomingMessage, response: ServerResponse) => void): Promise<BrowserAndSite> {
  const site: Server = createServer(serve);
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const browser = await launchBrowser();
  return {
    browser,
    origin: `http://127.0.0.1:${(site.address() as AddressInfo).port}`,
    close: async () => {
      await browser.close();
      await new Promise<void>((resolve) => site.close(() => resolve()));
    },
  };
}
