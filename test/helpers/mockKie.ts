import { MockAgent, type Dispatcher, type Interceptable } from 'undici';
import { vi, type Mock } from 'vitest';
import type { Logger } from '../../src/logger.js';
import type { Sleep } from '../../src/lib/clock.js';
import { KieClient, type KieClientOptions } from '../../src/services/kie/client.js';
import { recordingLogger, type LogLine } from './logger.js';

export const KIE_API_ORIGIN = 'https://api.kie.test';
export const KIE_UPLOAD_ORIGIN = 'https://upload.kie.test';
/** Long and distinctive so a leak is found by a plain substring search. */
export const KIE_TEST_KEY = 'kie-secret-key-5f3a9c1e7b2d4086';

// The kie tests take the recorder from here with the rest of their harness.
export { recordingLogger, type LogLine };

/** One request as the client dispatched it (undici 6 has no MockAgent call history). */
export interface RecordedCall {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly body: unknown;
}

function headersOf(headers: Dispatcher.DispatchOptions['headers']): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) entries.push([String(headers[i]), headers[i + 1]]);
  } else if (headers && typeof headers === 'object') {
    entries.push(...Object.entries(headers));
  }
  return Object.fromEntries(entries.map(([name, value]) => [name.toLowerCase(), value]));
}

export interface KieHarness {
  agent: MockAgent;
  api: Interceptable;
  upload: Interceptable;
  sleep: Mock<Sleep>;
  logger: Logger & { lines: LogLine[] };
  client: KieClient;
  /** Another client on the same agent, sleep and logger, with some options changed. */
  makeClient(overrides?: Partial<KieClientOptions>): KieClient;
  /** Requests that reached the agent, in order. */
  calls(): RecordedCall[];
  /** Proves every interceptor was used, then closes the agent. */
  finish(): Promise<void>;
}

export function createKieHarness(overrides: Partial<KieClientOptions> = {}): KieHarness {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const recorded: RecordedCall[] = [];
  const dispatcher = agent.compose((dispatch) => (options, handler) => {
    recorded.push({
      method: options.method,
      path: options.path,
      headers: headersOf(options.headers),
      body: options.body,
    });
    return dispatch(options, handler);
  });
  const sleep = vi.fn<Sleep>(() => Promise.resolve());
  const logger = recordingLogger();
  const clients: KieClient[] = [];
  const makeClient = (more: Partial<KieClientOptions> = {}): KieClient => {
    const client = new KieClient({
      apiBaseUrl: KIE_API_ORIGIN,
      uploadBaseUrl: KIE_UPLOAD_ORIGIN,
      apiKey: KIE_TEST_KEY,
      dispatcher,
      sleep,
      random: () => 0.5,
      logger,
      timeoutMs: 1_000,
      ...overrides,
      ...more,
    });
    clients.push(client);
    return client;
  };
  return {
    agent,
    api: agent.get(KIE_API_ORIGIN),
    upload: agent.get(KIE_UPLOAD_ORIGIN),
    sleep,
    logger,
    client: makeClient(),
    makeClient,
    calls: () => [...recorded],
    finish: async () => {
      for (const client of clients) client.close();
      try {
        agent.assertNoPendingInterceptors();
      } finally {
        await agent.close();
      }
    },
  };
}

/** A kie envelope as JSON text. */
export function envelope(code: number, msg: string, data: unknown = null): string {
  return JSON.stringify({ code, msg, data });
}

export const JSON_HEADERS = { 'content-type': 'application/json' };
