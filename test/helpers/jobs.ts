import type { JobRecord } from '../../src/services/jobs/record.js';

let counter = 0;

/** A complete job record with sensible values; tests override what they care about. */
export function makeJob(overrides: Partial<JobRecord> = {}): JobRecord {
  counter += 1;
  const now = 1_700_000_000_000;
  return {
    id: `job${String(counter).padStart(13, '0')}`,
    requesterId: '111111111111111111',
    guildId: '222222222222222222',
    channelId: '333333333333333333',
    locale: 'en-US',
    private: false,
    interaction: {
      id: '444444444444444444',
      token: 'interaction-token',
      createdAt: now,
      tokenDead: false,
      attachmentSizeLimit: 10 * 1024 * 1024,
    },
    messageId: '666666666666666666',
    options: {
      prompt: 'a red fox running through snow',
      model: 'veo3_fast',
      aspectRatio: '16:9',
      seed: null,
      imageUrls: [],
    },
    units: 1,
    state: 'queued',
    createdAt: now,
    updatedAt: now,
    submittedAt: null,
    finishedAt: null,
    taskId: null,
    resultUrls: [],
    failure: null,
    refunded: false,
    lateUntil: null,
    late: false,
    deliveryAttempts: [],
    deliveredMessageId: null,
    deliveryFailures: 0,
    firstDeliveryFailureAt: null,
    status: null,
    hd: null,
    ...overrides,
  };
}
