import { createHash, randomBytes } from 'node:crypto';

// Keys look like `at_<43 base64url chars>`: the prefix makes a leaked key recognisable
// (and redactable in logs); only the SHA-256 is stored.

const KEY_PREFIX = 'at_';
/** Characters of the key kept in clear to tell keys apart in listings. */
const DISPLAY_PREFIX_LENGTH = 11;

export function generateApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function displayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

const KEY_FORMAT = /^at_[A-Za-z0-9_-]{43}$/;

/** The display prefix of a presented key, only when it has our format (anything else may be a secret in full). */
export function recognisablePrefix(presented: string): string | undefined {
  return KEY_FORMAT.test(presented) ? displayPrefix(presented) : undefined;
}
