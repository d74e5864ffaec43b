import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import type { QuotaScope } from '../../../../src/services/quota/ledger.js';
import type { QuotaDefaults } from '../../../../src/services/quota/limits.js';
import { QuotaService } from '../../../../src/services/quota/service.js';

const defaults: QuotaDefaults = {
  limit: 10,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 5,
};
const alice: QuotaScope = { guildId: 'g1', userId: 'alice' };
const bob: QuotaScope = { guildId: 'g1', userId: 'bob' };

/** A quota Keyv whose writes wait until released, so a test sees which are in flight at once. */
function heldWrites() {
  const store = new Keyv({ namespace: 'quota' });
  const set = store.set.bind(store);
  const pending: { key: string; release: (fail?: Error) => void }[] = [];
  Object.assign(store, {
    set: (key: string, value: unknown) =>
      new Promise<boolean>((resolve, reject) => {
        pending.push({
          key,
          release: (fail) => {
            if (fail) reject(fail);
            else void set(key, value).then(resolve, reject);
          },
        });
      }),
  });
  return { store, pending };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('QuotaService: a member ledger and its server twin', () => {
  it('GIVEN a reservation WHEN it writes THEN both ledgers are in flight together, and the next waits for both', async () => {
    const { store, pending } = heldWrites();
    const quota = new QuotaService({ store, clock: { now: () => 1_000 }, defaults });
    const first = quota.reserve(alice, 'a1', 'veo3_fast');
    const second = quota.reserve(bob, 'b1', 'veo3_fast');
    await settle();
    expect(pending.map((p) => p.key).sort()).toEqual(['budget:g1', 'usage:g1:alice']);
    pending.shift()?.release();
    await settle();
    // One write answered, the other not yet: the server's lock is still held.
    expect(pending.map((p) => p.key)).toHaveLength(1);
    pending.shift()?.release();
    expect((await first).ok).toBe(true);
    await settle();
    expect(pending.map((p) => p.key).sort()).toEqual(['budget:g1', 'usage:g1:bob']);
    for (const p of pending.splice(0)) p.release();
    expect((await second).ok).toBe(true);
  });

  it('GIVEN the server twin write failing WHEN reserving THEN the reservation fails once both settled', async () => {
    const { store, pending } = heldWrites();
    const quota = new QuotaService({ store, clock: { now: () => 1_000 }, defaults });
    const reserving = quota.reserve(alice, 'a1', 'veo3_fast');
    await settle();
    const server = pending.find((p) => p.key === 'budget:g1');
    const member = pending.find((p) => p.key === 'usage:g1:alice');
    server?.release(new Error('SQLITE_BUSY'));
    let done = false;
    void reserving.catch(() => (done = true));
    await settle();
    expect(done).toBe(false);
    member?.release();
    await expect(reserving).rejects.toThrow('SQLITE_BUSY');
  });

  it('GIVEN a commit WHEN it writes THEN the member ledger and the twin go together', async () => {
    const { store, pending } = heldWrites();
    const quota = new QuotaService({ store, clock: { now: () => 1_000 }, defaults });
    const reserving = quota.reserve(alice, 'a1', 'veo3_fast');
    await settle();
    for (const p of pending.splice(0)) p.release();
    await reserving;
    const committing = quota.commit(alice, 'a1');
    await settle();
    expect(pending.map((p) => p.key).sort()).toEqual(['budget:g1', 'usage:g1:alice']);
    for (const p of pending.splice(0)) p.release();
    await committing;
    expect((await quota.status(alice)).activeJobs).toBe(1);
  });
});
