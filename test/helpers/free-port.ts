/** A free TCP port on 127.0.0.1 for a server that must be told its port (PostgreSQL, MariaDB). */
import { createServer } from 'node:net';

/**
 * Asks the kernel for a free port (listen on port 0) and releases it. Another process could take
 * it before the server binds: the helpers retry start-up on another port when that happens.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
