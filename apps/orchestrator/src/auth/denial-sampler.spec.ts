import { DenialSampler } from './denial-sampler';

describe(DenialSampler.name, () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('records the first denial of a source per window, and then how many it did not record', () => {
    const sampler = new DenialSampler({ windowMs: 60_000, now });
    expect(sampler.admit('401:at_abcdefgh')).toEqual({ record: true, suppressed: 0 });
    for (let i = 0; i < 500; i++) expect(sampler.admit('401:at_abcdefgh')).toEqual({ record: false });
    clock += 59_999;
    expect(sampler.admit('401:at_abcdefgh')).toEqual({ record: false });
    clock += 1;
    expect(sampler.admit('401:at_abcdefgh')).toEqual({ record: true, suppressed: 501 });
    // Other sources have windows of their own.
    expect(sampler.admit('403:key-2:GET /v1/audit')).toEqual({ record: true, suppressed: 0 });
  });

  it('caps recorded denials per second across sources, counting the rest per source', () => {
    const sampler = new DenialSampler({ maxPerSecond: 5, now });
    const recorded = Array.from({ length: 1000 }, (_, i) => sampler.admit(`401:ip:10.0.${i >> 8}.${i & 255}`)).filter((admission) => admission.record);
    expect(recorded).toHaveLength(5);
    clock += 1000;
    expect(sampler.admit('401:ip:10.0.3.200')).toEqual({ record: true, suppressed: 1 });
    expect(Array.from({ length: 100 }, (_, i) => sampler.admit(`fresh:${i}`)).filter((admission) => admission.record)).toHaveLength(4);
  });

  it('remembers a bounded number of sources, forgetting the least recently recorded', () => {
    const sampler = new DenialSampler({ maxSources: 3, maxPerSecond: 100, now });
    for (const source of ['a', 'b', 'c']) sampler.admit(source);
    sampler.admit('d');
    expect(sampler.admit('a')).toEqual({ record: true, suppressed: 0 });
    expect(sampler.admit('d')).toEqual({ record: false });
  });
});
