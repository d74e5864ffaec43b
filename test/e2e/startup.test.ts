import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const entry = path.resolve('dist/src/index.js');

describe('starting the compiled bot', () => {
  it('GIVEN an empty environment and no .env THEN it lists every missing key with where to get it and exits 1', () => {
    expect(existsSync(entry)).toBe(true);
    const cwd = mkdtempSync(path.join(tmpdir(), 'veo-start-'));
    try {
      const result = spawnSync(process.execPath, [entry], {
        cwd,
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('DISCORD_TOKEN is required');
      expect(result.stderr).toContain('DISCORD_APPLICATION_ID is required');
      expect(result.stderr).toContain('KIE_API_KEY is required');
      expect(result.stderr).toContain('Developer Portal');
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(path.join(cwd, 'data'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('GIVEN the keys in a .env file only THEN the config is read from it (and a bad value is named)', () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'veo-start-'));
    try {
      const dotenv =
        'DISCORD_TOKEN=abc\nDISCORD_APPLICATION_ID=123456789012345678\nKIE_API_KEY=k\nHTTP_PORT=not-a-port\n';
      writeFileSync(path.join(cwd, '.env'), dotenv, { mode: 0o600 });
      const result = spawnSync(process.execPath, [entry], {
        cwd,
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('HTTP_PORT must be a whole number');
      expect(result.stderr).not.toContain('DISCORD_TOKEN');
      expect(result.stderr).not.toContain('abc');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('GIVEN PUBLIC_BASE_URL without KIE_WEBHOOK_HMAC_KEY THEN it refuses to start, naming the key and the way out', () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'veo-start-'));
    try {
      const env = {
        PATH: process.env.PATH ?? '',
        DISCORD_TOKEN: 'abc',
        DISCORD_APPLICATION_ID: '123456789012345678',
        KIE_API_KEY: 'k',
        PUBLIC_BASE_URL: 'https://veo.example',
        STORE_URL: `sqlite://${path.join(cwd, 'bot.sqlite')}`,
      };
      const result = spawnSync(process.execPath, [entry], { cwd, env, encoding: 'utf8', timeout: 20_000 });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('KIE_WEBHOOK_HMAC_KEY is required when PUBLIC_BASE_URL is set');
      expect(result.stderr).toContain('ALLOW_UNSIGNED_CALLBACKS=true');
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // Refused before anything was opened.
      expect(existsSync(path.join(cwd, 'bot.sqlite'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
