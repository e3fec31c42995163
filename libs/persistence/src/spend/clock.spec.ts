import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceClock, systemClock, testClockFromFile } from './clock';

describe(testClockFromFile.name, () => {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-clock-spec-'));
  const file = join(dir, 'offset-ms');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shifts the system clock by the offset in the file, read at every call', () => {
    writeFileSync(file, String(-3 * 86_400_000));
    const clock = testClockFromFile(file);
    expect(Math.abs(clock.now().getTime() - (Date.now() - 3 * 86_400_000))).toBeLessThan(1_000);
    writeFileSync(file, '86400000\n');
    expect(Math.abs(clock.now().getTime() - (Date.now() + 86_400_000))).toBeLessThan(1_000);
  });

  it('never falls back to real time on a bad or missing file', () => {
    writeFileSync(file, 'tomorrow');
    expect(() => testClockFromFile(file)).toThrow(/signed offset in milliseconds/);
    expect(() => testClockFromFile(join(dir, 'missing'))).toThrow(/ENOENT/);
  });

  it('is only used when configured', () => {
    expect(serviceClock(undefined)).toBe(systemClock);
  });
});
