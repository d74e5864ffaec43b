import { describe, expect, it } from 'vitest';
import { KeyedLock } from '../../../src/lib/keyedLock.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('KeyedLock', () => {
  it('GIVEN tasks on one key WHEN they overlap THEN they run one at a time in arrival order', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const task = (name: string) =>
      lock.run('g1', async () => {
        log.push(`start ${name}`);
        await tick();
        log.push(`end ${name}`);
        return name;
      });
    const results = await Promise.all([task('a'), task('b'), task('c')]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('GIVEN two keys WHEN both are held THEN they run concurrently', async () => {
    const lock = new KeyedLock();
    let releaseA!: () => void;
    const a = lock.run('a', () => new Promise<void>((resolve) => (releaseA = resolve)));
    let ranB = false;
    await lock.run('b', async () => {
      ranB = true;
    });
    expect(ranB).toBe(true);
    releaseA();
    await a;
  });

  it('GIVEN a task that throws WHEN it fails THEN the error reaches its caller and the next task still runs', async () => {
    const lock = new KeyedLock();
    const failing = lock.run('k', async () => {
      throw new Error('boom');
    });
    const next = lock.run('k', async () => 'next');
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
  });

  it('GIVEN a synchronous throw inside fn WHEN run THEN the lock is still released', async () => {
    const lock = new KeyedLock();
    await expect(
      lock.run('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(lock.size).toBe(0);
    await expect(lock.run('k', async () => 1)).resolves.toBe(1);
  });

  it('GIVEN many keys WHEN all tasks finished THEN no key is remembered', async () => {
    const lock = new KeyedLock();
    const pending = Array.from({ length: 100 }, (_, i) => lock.run(`k${i % 10}`, async () => tick()));
    expect(lock.size).toBe(10);
    await Promise.all(pending);
    expect(lock.size).toBe(0);
  });
});
