import { describe, expect, it } from 'vitest';
import { opensOnWelcome } from './setup';

describe('opensOnWelcome', () => {
  it('opens the guide only for an empty engine that has not been set up in this browser', () => {
    expect(opensOnWelcome(0, 0, false)).toBe(true);
    expect(opensOnWelcome(0, 0, true)).toBe(false);
    expect(opensOnWelcome(1, 0, false)).toBe(false);
    expect(opensOnWelcome(0, 1, false)).toBe(false);
  });
});
