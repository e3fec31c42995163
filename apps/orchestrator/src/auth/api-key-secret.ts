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
