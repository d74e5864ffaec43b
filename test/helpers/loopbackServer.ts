import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A plain HTTP server on 127.0.0.1 that records what crossed the wire: every TCP connection (even one
 * that never sent a request) and every request line. Stands in for an "internal" service or a CDN.
 */
export interface LoopbackServer {
  readonly origin: string;
  readonly port: number;
  /** TCP connections accepted so far. */
  connections: number;
  readonly requests: string[];
  handler: Handler;
  close(): Promise<void>;
}

export async function startLoopbackServer(handler: Handler = (_, res) => res.end()): Promise<LoopbackServer> {
  let server: Server | null = null;
  const state: LoopbackServer = {
    origin: '',
    port: 0,
    connections: 0,
    requests: [],
    handler,
    async close() {
      if (!server) return;
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  server = createServer((req, res) => {
    state.requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    state.handler(req, res);
  });
  server.on('connection', () => (state.connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, { port, origin: `http://127.0.0.1:${port}` });
}

/**
 * Streams `total` bytes of `fill` without a Content-Length, honouring backpressure, and resolves with
 * how many bytes the server managed to write before the client went away (or all of them).
 */
export function streamBody(res: ServerResponse, total: number, head: Buffer = Buffer.alloc(0)): Promise<number> {
  return new Promise((resolve) => {
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    res.once('close', () => resolve(written));
    res.writeHead(200, { 'content-type': 'video/mp4' });
    const pump = () => {
      while (written < total && !res.destroyed) {
        const piece = written === 0 && head.length > 0 ? head : chunk;
        written += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      if (written >= total) res.end();
    };
    pump();
  });
}
