import type { z } from 'zod';

/**
 * Parses process.env with a zod schema at start-up; a bad value stops the process with a
 * message naming the variable, rather than failing later somewhere less obvious.
 */
export function parseEnv<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new Error(`invalid environment:\n${lines.join('\n')}`);
}
