/** zod builders for environment values (all strings): each trims, applies its default, and says what is wrong. */
import { z } from 'zod';

export const required = z.string().trim().min(1, 'is required');
export const optional = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();
export const httpUrl = (fallback: string) =>
  z
    .string()
    .trim()
    .default(fallback)
    .refine((v) => /^https?:\/\/[^\s]+$/.test(v), 'must be an http(s) URL')
    .transform((v) => v.replace(/\/+$/, ''));
export const wholeNumber = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .default(String(fallback))
    .refine((v) => /^\d+$/.test(v), 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);
/** A whole number that may be left unset (or empty): none. */
export const optionalWhole = (min: number) =>
  optional.pipe(
    z
      .string()
      .refine((v) => /^\d+$/.test(v) && Number(v) >= min, `must be a whole number, at least ${min}, or empty`)
      .transform(Number)
      .optional(),
  );

export const flag = (fallback: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .default(String(fallback))
    .refine((v) => v === 'true' || v === 'false', 'must be true or false')
    .transform((v) => v === 'true');
export const host = (fallback: string) =>
  z
    .string()
    .trim()
    .default(fallback)
    .refine((v) => /^[A-Za-z0-9.:_-]{1,253}$/.test(v), 'must be an address or host name');

/** `http://127.0.0.1:4010, https://cdn.example` -> their normalised origins; a path or other scheme is an error. */
export const originList = z
  .string()
  .trim()
  .default('')
  .transform((v, ctx) => {
    const origins: string[] = [];
    for (const part of v.split(',').map((p) => p.trim())) {
      if (part === '') continue;
      let url: URL | null = null;
      try {
        url = new URL(part);
      } catch {
        url = null;
      }
      const bare = url !== null && (url.pathname === '/' || url.pathname === '') && !url.search && !url.hash;
      if (url === null || !/^https?:$/.test(url.protocol) || !bare || url.username !== '') {
        ctx.addIssue({ code: 'custom', message: `has ${JSON.stringify(part)}, which is not an http(s) origin` });
        return z.NEVER;
      }
      origins.push(url.origin);
    }
    return origins;
  });

const SNOWFLAKE = /^\d{17,20}$/;

export const snowflake = z
  .string()
  .trim()
  .refine((v) => SNOWFLAKE.test(v), 'must be a Discord id (17 to 20 digits)');

/** Comma-separated Discord ids; unset or empty: none. */
export const snowflakeList = optional.pipe(
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((id) => id.trim())
        .filter((id) => id !== ''),
    )
    .refine((ids) => ids.every((id) => SNOWFLAKE.test(id)), 'must be Discord ids (17 to 20 digits), comma-separated')
    .optional(),
);
