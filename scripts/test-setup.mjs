#!/usr/bin/env node
// Set-up step of `npm test`: the tests start real servers (PostgreSQL, MariaDB, Redis) and drive a
// real browser (Chromium), all from Debian's packages. On a fresh machine this installs whichever of
// them is missing, when it can (root and apt-get); otherwise it says, loudly, which tests will skip.
// Nothing here starts a server: each test starts its own in a temporary directory and stops it.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

/** Debian package → the file whose presence means it is installed. */
const NEEDED = [
  { pkg: 'postgresql', file: '/usr/lib/postgresql/15/bin/initdb', tests: 'PostgreSQL source/sink tests' },
  { pkg: 'mariadb-server', file: '/usr/sbin/mariadbd', tests: 'MySQL/MariaDB source/sink tests' },
  { pkg: 'redis-server', file: '/usr/bin/redis-server', tests: 'job-queue (BullMQ on Redis) tests' },
  { pkg: 'chromium', file: '/usr/bin/chromium', tests: 'browser tests' },
];

const missing = NEEDED.filter((n) => !existsSync(n.file));
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (process.env.DATAPORT_NO_APT === '1' || !isRoot || !hasApt) {
  const why = process.env.DATAPORT_NO_APT === '1' ? 'DATAPORT_NO_APT=1' : !isRoot ? 'not root' : 'no apt-get';
  for (const m of missing) {
    console.error(`test-setup: WARNING ${m.pkg} is missing and cannot be installed (${why}): the ${m.tests} will SKIP`);
  }
  process.exit(0);
}

const pkgs = missing.map((m) => m.pkg);
console.error(`test-setup: installing ${pkgs.join(', ')} from Debian (once per machine)`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0;
if (!run(['update', '-qq']) || !run(['install', '-y', '-qq', ...pkgs])) {
  console.error(`test-setup: WARNING apt-get could not install ${pkgs.join(', ')}: tests that need them will SKIP`);
}
for (const m of missing) {
  if (!existsSync(m.file)) console.error(`test-setup: WARNING ${m.pkg} still missing: the ${m.tests} will SKIP`);
}
