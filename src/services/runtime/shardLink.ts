import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { JOB_ID_PATTERN } from '../../lib/jobId.js';
import { TASK_ID_PATTERN, type CallbackHint } from './http.js';

/**
 * What the sharding manager asks a shard over the IPC channel discord.js already opened (DESIGN §7, §8):
 * a verified kie callback for a job the shard owns, a health probe, or its metrics. Messages carry
 * `veo: 1` so that discord.js's own (`_ready`, `_eval`, ...) are never mistaken for ours.
 */
export type ShardRequest =
  | { readonly op: 'callback'; readonly taskId: string; readonly jobId: string | null }
  | { readonly op: 'probe' }
  | { readonly op: 'metrics' };

/** A shard's view of itself, for the manager's /healthz and /readyz. */
export interface ShardProbe {
  readonly store: boolean;
  readonly ready: boolean;
  readonly lease: boolean;
}

const requestSchema = z.object({
  veo: z.literal(1),
  kind: z.literal('request'),
  id: z.number().int(),
  body: z.discriminatedUnion('op', [
    z.object({
      op: z.literal('callback'),
      taskId: z.string().regex(TASK_ID_PATTERN),
      jobId: z.string().regex(JOB_ID_PATTERN).nullable(),
    }),
    z.object({ op: z.literal('probe') }),
    z.object({ op: z.literal('metrics') }),
  ]),
});

const replySchema = z.object({
  veo: z.literal(1),
  kind: z.literal('reply'),
  id: z.number().int(),
  ok: z.boolean(),
  result: z.unknown(),
  error: z.string().optional(),
});

export const probeSchema = z.object({ store: z.boolean(), ready: z.boolean(), lease: z.boolean() });
/** prom-client's getMetricsAsJSON(): only its outline is checked; AggregatorRegistry reads the rest. */
export const metricsSchema = z.array(
  z.looseObject({ name: z.string(), type: z.string(), values: z.array(z.unknown()) }),
);
export const callbackOutcomeSchema = z.string();

/** Either end of an IPC channel: the shard's `process`, or the manager's discord.js `Shard`. */
export interface IpcPort {
  send(message: unknown): Promise<unknown>;
  /** Returns a function that stops listening. */
  onMessage(listener: (message: unknown) => void): () => void;
}

/** The shard's end: `process.send` and `process.on('message')` (it exists only in a forked process). */
export function processPort(): IpcPort {
  return {
    send: (message) =>
      new Promise<void>((resolve, reject) => {
        if (!process.send) {
          reject(new Error('no IPC channel to the sharding manager'));
          return;
        }
        process.send(message, undefined, undefined, (error: Error | null) => (error ? reject(error) : resolve()));
      }),
    onMessage(listener) {
      const wrapped = (message: unknown) => listener(message);
      process.on('message', wrapped);
      return () => process.off('message', wrapped);
    },
  };
}

export interface ShardHandlers {
  callback(hint: CallbackHint): Promise<string>;
  probe(): Promise<ShardProbe>;
  metrics(): Promise<object[]>;
}

/** The shard answers the manager's requests; returns a function that stops answering. */
export function answerManager(port: IpcPort, handlers: ShardHandlers, logger: Logger): () => void {
  return port.onMessage((message) => {
    const parsed = requestSchema.safeParse(message);
    if (!parsed.success) return;
    const { id, body } = parsed.data;
    const work = (): Promise<unknown> => {
      switch (body.op) {
        case 'callback':
          return handlers.callback({ taskId: body.taskId, jobId: body.jobId });
        case 'probe':
          return handlers.probe();
        case 'metrics':
          return handlers.metrics();
      }
    };
    work()
      .then(
        (result) => ({ veo: 1, kind: 'reply', id, ok: true, result }),
        (error: unknown) => ({
          veo: 1,
          kind: 'reply',
          id,
          ok: false,
          result: null,
          error: error instanceof Error ? error.message : 'failed',
        }),
      )
      .then((reply) => port.send(reply))
      .catch((error: unknown) => logger.warn({ op: body.op, err: error }, 'could not answer the sharding manager'));
  });
}

export class ShardRequestError extends Error {
  constructor(
    readonly shard: number,
    readonly op: ShardRequest['op'],
    readonly reason: 'timeout' | 'gone' | 'failed' | 'send',
    detail?: string,
  ) {
    super(`shard ${String(shard)} ${op}: ${reason}${detail ? ` (${detail})` : ''}`);
    this.name = 'ShardRequestError';
  }
}

interface Pending {
  readonly op: ShardRequest['op'];
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The manager's end for one shard: numbered requests, each answered or timed out. */
export class ShardRequester {
  #next = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(
    readonly shard: number,
    private readonly send: (message: unknown) => Promise<unknown>,
    private readonly timeoutMs: number,
  ) {}

  /** Feed every message the shard sends; returns whether it was one of our replies. */
  handle(message: unknown): boolean {
    const parsed = replySchema.safeParse(message);
    if (!parsed.success) return false;
    const pending = this.#pending.get(parsed.data.id);
    if (!pending) return true;
    this.#pending.delete(parsed.data.id);
    clearTimeout(pending.timer);
    if (parsed.data.ok) pending.resolve(parsed.data.result);
    else pending.reject(new ShardRequestError(this.shard, pending.op, 'failed', parsed.data.error));
    return true;
  }

  request(body: ShardRequest): Promise<unknown> {
    const id = this.#next++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ShardRequestError(this.shard, body.op, 'timeout'));
      }, this.timeoutMs);
      this.#pending.set(id, { op: body.op, resolve, reject, timer });
      this.send({ veo: 1, kind: 'request', id, body }).catch((error: unknown) => {
        if (!this.#pending.delete(id)) return;
        clearTimeout(timer);
        reject(new ShardRequestError(this.shard, body.op, 'send', error instanceof Error ? error.message : undefined));
      });
    });
  }

  /** The shard's process died: nothing pending will be answered. */
  failAll(): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new ShardRequestError(this.shard, pending.op, 'gone'));
      this.#pending.delete(id);
    }
  }
}
