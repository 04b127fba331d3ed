import { describe, expect, it } from 'vitest';
import { route } from '../ui/route';

describe('route', () => {
  it("opens a function's page for #/fn/<name>, the list for anything else", () => {
    expect(route('#/fn/hello-2')).toEqual({ fn: 'hello-2' });
    for (const hash of ['', '#/', '#/fn/', '#/fn/Hello', '#/fn/a/b', '#/fn/2x', `#/fn/a${'b'.repeat(48)}`]) {
      expect(route(hash)).toEqual({});
    }
  });
});
