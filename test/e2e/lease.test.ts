import { afterEach, describe, expect, it } from 'vitest';
import { CrashRig } from './helpers/childBot.js';
import { bodyOf, isOriginalEdit } from './helpers/harness.js';

describe('single writer: two bot processes on one store (DESIGN §8)', () => {
  let rig: CrashRig;

  afterEach(async () => {
    const violations = [...rig.discord.violations];
    await rig.close();
    expect(violations).toEqual([]);
  });

  it('GIVEN a live lease holder THEN a second process waits (saying why) without connecting or resuming; after SIGTERM it takes over', async () => {
    rig = await CrashRig.start();
    const holder = await rig.spawnReady();
    rig.kie.autoComplete = null;
    const handle = await rig.discord.slashCommand({
      name: 'veo',
      subcommand: 'prompt',
      options: [{ name: 'prompt', type: 3, value: 'a snow globe city' }],
    });
    const jobId = String((await holder.waitForLog((l) => l.msg === 'job accepted')).jobId);
    const taskId = (await rig.kie.waitFor((r) => r.method === 'POST' && r.path === '/api/v1/veo/generate')).taskId!;
    await rig.discord.waitForRequest(
      (r) => isOriginalEdit(r, handle.token) && String(bodyOf(r).content).includes('Generating'),
      {
        afterSeq: handle.seq,
      },
    );

    const standby = rig.spawn();
    const listening = await standby.waitForMessage('ops server listening');
    const waiting = await standby.waitForLog(
      (l) => l.msg.startsWith('store lease held by another live process') && l.attempt === 2,
    );
    expect(waiting.holderPid).toBe(holder.pid);
    expect(waiting.level).toBe(40);
    // While it waits: alive, not ready, never on the gateway, nothing resumed.
    const base = `http://127.0.0.1:${String(listening.port)}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect(standby.logs.some((l) => l.msg === 'jobs resumed' || l.msg === 'connected to Discord')).toBe(false);
    expect(rig.discord.identifyCount).toBe(1);

    const exit = await holder.kill('SIGTERM');
    expect(exit.code).toBe(0);
    expect(holder.logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['shutting down', 'store lease released', 'stopped']),
    );

    const resumed = await standby.waitForMessage('jobs resumed');
    expect(resumed.counts).toEqual({ generating: 1 });
    const acquired = standby.logs.find((l) => l.msg === 'store lease acquired')!;
    expect(standby.logs.indexOf(acquired)).toBeLessThan(standby.logs.indexOf(resumed));
    expect(rig.discord.identifyCount).toBe(2);
    rig.kie.completeTask(taskId);
    await standby.waitForLog((l) => l.msg === 'job transition' && l.jobId === jobId && l.to === 'delivered');
    expect((await standby.kill('SIGTERM')).code).toBe(0);

    const { job, remaining } = await rig.readStore(jobId);
    expect(job?.state).toBe('delivered');
    expect(remaining).toBe(4);
    expect(rig.messagesWithVideo(jobId)).toHaveLength(1);
    expect(rig.kie.generateRequests()).toHaveLength(1);
  });
});
