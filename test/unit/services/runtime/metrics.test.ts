import { describe, expect, it } from 'vitest';
import { BotMetrics } from '../../../../src/services/runtime/metrics.js';
import { makeJob } from '../../../helpers/jobs.js';

function gauge(text: string, state: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`veo_jobs{state="${state}"}`));
  return Number(line?.split(' ')[1]);
}

describe('BotMetrics job counts (in memory, DESIGN §7)', () => {
  it('GIVEN the jobs moving at start and every write after THEN veo_jobs counts them without reading any store', async () => {
    const metrics = new BotMetrics({ gatewayReady: () => true, leaseHeld: () => true, processMetrics: false });
    const a = makeJob({ state: 'generating' });
    const b = makeJob({ state: 'queued' });
    metrics.seedJobs([a, b, makeJob({ state: 'delivered' })]);
    let text = (await metrics.scrape()).text;
    expect([gauge(text, 'generating'), gauge(text, 'queued'), gauge(text, 'delivering')]).toEqual([1, 1, 0]);

    metrics.jobChanged(a, { ...a, state: 'delivering' });
    metrics.jobChanged(b, { ...b, state: 'failed', finishedAt: b.createdAt + 1000 });
    const c = makeJob({ state: 'queued' });
    metrics.jobChanged(null, c);
    // A seed after writes (a late resume) does not count a job twice.
    metrics.seedJobs([c]);
    text = (await metrics.scrape()).text;
    expect([gauge(text, 'generating'), gauge(text, 'queued'), gauge(text, 'delivering')]).toEqual([0, 1, 1]);
    expect(text).toContain('veo_jobs_finished_total{state="failed"} 1');
  });

  it('GIVEN callbacks and public requests THEN they are counted by outcome only', async () => {
    const metrics = new BotMetrics({ gatewayReady: () => true, leaseHeld: () => true, processMetrics: false });
    metrics.callback('unknown_task');
    metrics.callback('unknown_task');
    metrics.publicRequest('not_found');
    const { text } = await metrics.scrape();
    expect(text).toContain('veo_kie_callbacks_total{outcome="unknown_task"} 2');
    expect(text).toContain('veo_http_public_requests_total{outcome="not_found"} 1');
  });
});
