/**
 * The page's routes, in the URL's fragment (the token is never in the URL): `#/fn/<name>` is a
 * function's page, anything else the list. A name the API could not hold is the list too.
 */
export function route(hash: string): { fn?: string } {
  const m = /^#\/fn\/([a-z][a-z0-9-]{0,47})$/.exec(hash);
  return m?.[1] ? { fn: m[1] } : {};
}
