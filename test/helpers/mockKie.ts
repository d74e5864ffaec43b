import { MockAgent, type Interceptable, type MockCallHistoryLog } from 'undici';
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
  calls(): MockCallHistoryLog[];
  /** Proves every interceptor was used, then closes the agent. */
  finish(): Promise<void>;
}

export function createKieHarness(overrides: Partial<KieClientOptions> = {}): KieHarness {
  const agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  const sleep = vi.fn<Sleep>(() => Promise.resolve());
  const logger = recordingLogger();
  const clients: KieClient[] = [];
  const makeClient = (more: Partial<KieClientOptions> = {}): KieClient => {
    const client = new KieClient({
      apiBaseUrl: KIE_API_ORIGIN,
      uploadBaseUrl: KIE_UPLOAD_ORIGIN,
      apiKey: KIE_TEST_KEY,
      dispatcher: agent,
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
    calls: () => agent.getCallHistory()?.calls() ?? [],
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
