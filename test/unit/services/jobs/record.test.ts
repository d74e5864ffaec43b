import Keyv from 'keyv';
import { describe, expect, it } from 'vitest';
import { UserFacingError } from '../../../../src/errors.js';
import { newJobRecord } from '../../../../src/services/jobs/record.js';
import { JobStore, MissingJobError } from '../../../../src/services/jobs/store.js';
import { makeJob } from '../../../helpers/jobs.js';

describe('job records', () => {
  it('GIVEN an accepted request THEN its record is queued, untouched, and keeps the token it came with', () => {
    const { options } = makeJob();
    const job = newJobRecord(
      {
        id: 'abc123',
        requesterId: 'u1',
        guildId: null,
        channelId: 'c1',
        locale: 'zh-CN',
        private: true,
        interaction: { id: 'i1', token: 'tok', createdAt: 5, attachmentSizeLimit: null },
        options,
        units: 4,
      },
      1_000,
    );
    expect(job).toMatchObject({
      id: 'abc123',
      guildId: null,
      private: true,
      units: 4,
      state: 'queued',
      createdAt: 1_000,
      updatedAt: 1_000,
      messageId: null,
      taskId: null,
      refunded: false,
      deliveryFailures: 0,
      status: null,
      hd: null,
    });
    expect(job.interaction).toEqual({
      id: 'i1',
      token: 'tok',
      createdAt: 5,
      tokenDead: false,
      attachmentSizeLimit: null,
    });
  });

  it('GIVEN a job the store does not hold WHEN updated THEN the store says so with its own error, not a user-facing one', async () => {
    const jobs = new JobStore(new Keyv(), { now: () => 1 });
    const missing = jobs.update('nosuchjob', (j) => j);
    await expect(missing).rejects.toBeInstanceOf(MissingJobError);
    await expect(missing).rejects.not.toBeInstanceOf(UserFacingError);
    await expect(missing).rejects.toMatchObject({ jobId: 'nosuchjob' });
  });
});
