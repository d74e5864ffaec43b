import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from '../../logger.js';
import { Listener, send } from './http.js';

export interface OpsServerDeps {
  readonly port: number;
  /** Loopback by default (OPS_HTTP_HOST): these answers are for the operator, never the internet. */
  readonly host: string;
  readonly logger: Logger;
  /** Liveness: the process answers and the store reads (bot.ts bounds the store call). */
  readonly healthy: () => Promise<boolean>;
  /** Readiness: the gateway is connected. */
  readonly ready: () => boolean | Promise<boolean>;
  /** Prometheus text, computed from in-memory counts (never a store scan per scrape). */
  readonly metrics: () => Promise<{ contentType: string; text: string }>;
}

function sendProbe(res: ServerResponse, ok: boolean, okText: string, failText: string): void {
  send(res, ok ? 200 : 503, ok ? okText : failText);
}

/** The operator's listener (DESIGN §7): `/healthz`, `/readyz` and `/metrics` on OPS_HTTP_HOST:OPS_HTTP_PORT. */
export class OpsServer {
  readonly #listener: Listener;

  constructor(private readonly deps: OpsServerDeps) {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        deps.logger.error({ err: error, path: req.url?.split('?')[0] }, 'ops handler failed');
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.end();
      });
    });
    this.#listener = new Listener(server, deps.logger, 'ops server');
  }

  get port(): number | null {
    return this.#listener.port;
  }

  listen(): Promise<number> {
    return this.#listener.listen(this.deps.port, this.deps.host);
  }

  close(): Promise<void> {
    return this.#listener.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = new URL(req.url ?? '/', 'http://localhost').pathname;
    const known = route === '/healthz' || route === '/readyz' || route === '/metrics';
    if (!known) return send(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (route === '/healthz') {
      const healthy = await this.deps.healthy().catch(() => false);
      return sendProbe(res, healthy, 'ok\n', 'store unavailable\n');
    }
    if (route === '/readyz') {
      const ready = await Promise.resolve(this.deps.ready()).catch(() => false);
      return sendProbe(res, ready, 'ready\n', 'gateway not connected\n');
    }
    const { contentType, text } = await this.deps.metrics();
    send(res, 200, text, contentType);
  }
}
