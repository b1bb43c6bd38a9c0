/**
 * Debian's Chromium for the browser tests (no browser download is possible here): where it is and
 * how it is launched, in one place. `npm test`'s set-up step installs it when it can.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The Chromium binary, or undefined (the browser tests then skip, saying so). */
export const CHROMIUM: string | undefined = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Launches headless Chromium without a sandbox (tests run as root) and without background traffic. */
export function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error('no chromium binary at /usr/bin/chromium (Debian package chromium)');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
