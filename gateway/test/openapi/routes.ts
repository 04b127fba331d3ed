/**
 * The routes a fastify app serves, from its printRoutes() radix tree: each line is a segment
 * whose full path is its ancestors' segments joined, with the methods when a route ends there.
 */
export function registeredRoutes(tree: string): { url: string; methods: string[] }[] {
  const out: { url: string; methods: string[] }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = [...(m[1] ?? '')].length / 4;
    stack.length = depth;
    stack.push(m[2] ?? '');
    if (m[3]) out.push({ url: stack.join(''), methods: m[3].split(', ') });
  }
  return out;
}

/** A fastify URL or an OpenAPI path, with its parameter names dropped: /fn/:name/* and /fn/{name}/{path} agree. */
export const shape = (path: string): string =>
  path
    .replace(/\{[^}]+\}/g, '{}')
    .replace(/:[^/]+/g, '{}')
    .replace(/\*$/, '{}');
