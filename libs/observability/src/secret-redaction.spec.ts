import { REDACTED, redactSecrets } from './secret-redaction';

// Free text with a secret in it, in the forms people paste: each is masked and named,
// however the name is spelled, and text without one comes back unchanged.
describe(redactSecrets.name, () => {
  it.each([
    ['DB_PASSWORD: hunter2', `DB_PASSWORD: ${REDACTED}`, 'password'],
    ['passwd=hunter2', `passwd=${REDACTED}`, 'password'],
    ['mysql PWD="hunter2"', `mysql PWD="${REDACTED}"`, 'password'],
    ['"client-Secret": "s3cr3t-value"', `"client-Secret": "${REDACTED}"`, 'secret'],
    ['X-Api-Key: abcdef123456', `X-Api-Key: ${REDACTED}`, 'api-key'],
    ['apikey=abcdef123456', `apikey=${REDACTED}`, 'api-key'],
    ['Refresh-Token=abc.def.ghi', `Refresh-Token=${REDACTED}`, 'token'],
    ['connect to NATS://ops:hunter2@nats:4222 now', `connect to NATS://ops:${REDACTED}@nats:4222 now`, 'url-credentials'],
  ])('masks %s', (text, masked, kind) => {
    expect(redactSecrets(text)).toEqual({ text: masked, kinds: [kind] });
  });

  it('returns text without a secret unchanged', () => {
    const text = 'Heat pumps in older houses: size the radiators (see https://example.org/guide) before the pump; tokens of appreciation aside, costs vary.';
    expect(redactSecrets(text)).toEqual({ text, kinds: [] });
  });
});
