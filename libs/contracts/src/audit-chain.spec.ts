import { createHash } from 'node:crypto';
import {
  canonicalEvent,
  canonicalJson,
  type ChainEntry,
  type ChainEvent,
  chainHash,
  ChainVerifier,
  GENESIS_HASH,
  parseExportLine,
  parseHeadAnchor,
  type SealedEvent,
} from './audit-chain';

function event(position: number, data: Record<string, unknown> = { n: position }): ChainEvent {
  return {
    position,
    seq: position * 10,
    occurredAt: `2026-11-23T10:00:0${position % 10}.12345${position % 10}Z`,
    tenantId: position % 2 ? '7a0c5c1e-1d5e-4e43-9a43-1f1d1c2b3a40' : null,
    actor: 'service:orchestrator',
    action: 'step.queued',
    subject: `step:${position}`,
    taskId: null,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    requestId: null,
    data,
  };
}

function sealedChain(length: number): SealedEvent[] {
  const chain: SealedEvent[] = [];
  let prevHash = GENESIS_HASH;
  for (let position = 1; position <= length; position++) {
    const content = event(position);
    const hash = chainHash(prevHash, content);
    chain.push({ ...content, prevHash, hash });
    prevHash = hash;
  }
  return chain;
}

function verify(entries: ChainEntry[], options?: ConstructorParameters<typeof ChainVerifier>[0]) {
  const verifier = new ChainVerifier(options);
  for (const entry of entries) if (!verifier.add(entry)) break;
  return verifier.finish();
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order, so jsonb and JS objects hash alike', () => {
    const fromJs = { b: 1, a: { z: [3, { y: true, x: null }], c: 'é' } };
    const fromJsonb = JSON.parse('{"a": {"c": "é", "z": [3, {"x": null, "y": true}]}, "b": 1}');
    expect(canonicalJson(fromJs)).toBe('{"a":{"c":"é","z":[3,{"x":null,"y":true}]},"b":1}');
    expect(canonicalJson(fromJsonb)).toBe(canonicalJson(fromJs));
  });

  it('serialises numbers and strings as ECMAScript does (RFC 8785) and drops undefined members', () => {
    expect(canonicalJson({ n: 1.0, big: 1e21, small: 0.000001, neg: -0, s: 'a"\n\u2028', u: undefined })).toBe(
      '{"big":1e+21,"n":1,"neg":0,"s":"a\\"\\n\u2028","small":0.000001}',
    );
  });

  it('sorts keys by UTF-16 code units, not by locale', () => {
    expect(canonicalJson({ b: 1, B: 2, é: 3, '\u{1F600}': 4, '\uFB33': 5 })).toBe('{"B":2,"b":1,"é":3,"\u{1F600}":4,"\uFB33":5}');
  });

  it('refuses values JSON cannot carry', () => {
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ x: 1n })).toThrow(TypeError);
  });
});

describe('chainHash', () => {
  it('is SHA-256 over prev_hash followed by the canonical event, as docs/audit.md specifies', () => {
    const content = event(1);
    const canonical =
      '{"action":"step.queued","actor":"service:orchestrator","data":{"n":1},"occurredAt":"2026-11-23T10:00:01.123451Z",' +
      '"position":1,"requestId":null,"seq":10,"subject":"step:1","taskId":null,' +
      '"tenantId":"7a0c5c1e-1d5e-4e43-9a43-1f1d1c2b3a40","traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}';
    expect(canonicalEvent(content)).toBe(canonical);
    expect(chainHash(GENESIS_HASH, content)).toBe(createHash('sha256').update(GENESIS_HASH + canonical).digest('hex'));
  });

  it('ignores fields outside the event (chain columns, extras) but covers every event field', () => {
    const content = event(2);
    expect(chainHash(GENESIS_HASH, { ...content, prevHash: 'x', hash: 'y' } as ChainEvent)).toBe(chainHash(GENESIS_HASH, content));
    for (const change of [{ seq: 21 }, { occurredAt: '2026-11-23T10:00:02.123453Z' }, { tenantId: 'b3d2c1e0-0000-4000-8000-000000000000' }, { data: { n: 3 } }, { position: 3 }]) {
      expect(chainHash(GENESIS_HASH, { ...content, ...change })).not.toBe(chainHash(GENESIS_HASH, content));
    }
  });
});

describe(ChainVerifier.name, () => {
  it('accepts an intact chain and reports what it checked', () => {
    const chain = sealedChain(6);
    expect(verify(chain)).toEqual({
      ok: true,
      checked: 6,
      firstBadPosition: null,
      reason: null,
      contentChecked: 6,
      withheld: 0,
      firstPosition: 1,
      lastPosition: 6,
      lastHash: chain[5]?.hash,
    });
  });

  it('names an edited event', () => {
    const chain = sealedChain(6);
    chain[2] = { ...chain[2]!, data: { n: 'changed' } };
    expect(verify(chain)).toMatchObject({ ok: false, firstBadPosition: 3, reason: expect.stringContaining('altered') });
  });

  it('names the position of a deleted event', () => {
    const chain = sealedChain(6);
    chain.splice(3, 1);
    expect(verify(chain)).toMatchObject({ ok: false, firstBadPosition: 4, reason: expect.stringContaining('missing') });
  });

  it('catches a deletion covered up by renumbering the positions after it', () => {
    const chain = sealedChain(6);
    chain.splice(3, 1);
    const renumbered = chain.map((entry, index) => ({ ...entry, position: index + 1 }));
    expect(verify(renumbered)).toMatchObject({ ok: false, firstBadPosition: 4 });
  });

  it('names the first of two swapped events, whether contents or lines were swapped', () => {
    const chain = sealedChain(6);
    const swappedContent = chain.map((entry) => ({ ...entry }));
    const [second, fourth] = [chain[1]!, chain[3]!];
    swappedContent[1] = { ...fourth, position: 2, prevHash: second.prevHash, hash: second.hash };
    swappedContent[3] = { ...second, position: 4, prevHash: fourth.prevHash, hash: fourth.hash };
    expect(verify(swappedContent)).toMatchObject({ ok: false, firstBadPosition: 2 });

    const swappedLines = [chain[0]!, chain[3]!, chain[2]!, chain[1]!, chain[4]!];
    expect(verify(swappedLines)).toMatchObject({ ok: false, firstBadPosition: 2 });
  });

  it('cannot see a cut tail on its own, but catches it against a head taken earlier', () => {
    const chain = sealedChain(8);
    const head = { position: 8, hash: chain[7]!.hash };
    const cut = chain.slice(0, 5);
    expect(verify(cut).ok).toBe(true);
    expect(verify(cut, { head })).toMatchObject({ ok: false, firstBadPosition: 6, reason: expect.stringContaining('before the anchored head') });
    expect(verify(cut, { head: { hash: head.hash } })).toMatchObject({ ok: false, firstBadPosition: 6 });
    expect(verify(chain, { head }).ok).toBe(true);
    expect(verify(chain, { head: { hash: chain[3]!.hash } }).ok).toBe(true);
  });

  it('catches a chain re-sealed from scratch after an edit, against the earlier head', () => {
    const original = sealedChain(5);
    let prevHash = GENESIS_HASH;
    const forged = original.map((entry) => {
      const content: ChainEvent = { ...event(entry.position), ...(entry.position === 2 ? { data: { n: 'forged' } } : {}) };
      const hash = chainHash(prevHash, content);
      const sealed = { ...content, prevHash, hash };
      prevHash = hash;
      return sealed;
    });
    expect(verify(forged).ok).toBe(true);
    expect(verify(forged, { head: { position: 5, hash: original[4]!.hash } })).toMatchObject({ ok: false, firstBadPosition: 5 });
    expect(verify(forged, { head: { hash: original[4]!.hash } })).toMatchObject({ ok: false, firstBadPosition: 6 });
  });

  it('checks the links of withheld entries and the content of the rest', () => {
    const chain = sealedChain(5);
    const entries: ChainEntry[] = chain.map((entry) =>
      entry.tenantId ? entry : { position: entry.position, prevHash: entry.prevHash, hash: entry.hash, withheld: true as const },
    );
    expect(verify(entries)).toMatchObject({ ok: true, checked: 5, contentChecked: 3, withheld: 2 });
    entries[1] = { position: 2, prevHash: entries[1]!.prevHash, hash: 'f'.repeat(64), withheld: true };
    expect(verify(entries)).toMatchObject({ ok: false, firstBadPosition: 3, reason: expect.stringContaining('prev_hash') });
  });

  it('requires the chain to start at position 1 from the genesis hash: a cut-off beginning fails', () => {
    const chain = sealedChain(3);
    expect(verify([{ ...chain[0]!, prevHash: 'a'.repeat(64) }])).toMatchObject({ ok: false, firstBadPosition: 1, reason: expect.stringContaining('genesis') });
    expect(verify(chain.slice(1))).toMatchObject({ ok: false, firstBadPosition: 1, reason: 'position 1 is missing: the event was deleted' });
    // A forged first line claiming position 1 with any prev_hash but the genesis one fails too.
    expect(verify([{ ...chain[1]!, position: 1 }])).toMatchObject({ ok: false, firstBadPosition: 1 });
  });

  it('checks a segment that starts later only against the hash of the position before it, given from elsewhere', () => {
    const chain = sealedChain(4);
    expect(verify(chain.slice(1), { from: 2, expectedPrevHash: chain[0]!.hash }).ok).toBe(true);
    expect(verify(chain.slice(1), { from: 2, expectedPrevHash: 'c'.repeat(64) })).toMatchObject({ ok: false, firstBadPosition: 2, reason: expect.stringContaining('prev_hash') });
    expect(verify(chain.slice(2), { from: 2, expectedPrevHash: chain[0]!.hash })).toMatchObject({ ok: false, firstBadPosition: 2, reason: expect.stringContaining('missing') });
    expect(() => new ChainVerifier({ from: 2 })).toThrow('needs the hash of position 1');
  });

  it('says plainly that a head anchored before the segment cannot be checked from it', () => {
    const chain = sealedChain(5);
    const segment = chain.slice(2);
    const options = { from: 3, expectedPrevHash: chain[1]!.hash };
    expect(verify(segment, { ...options, head: { position: 1, hash: chain[0]!.hash } })).toMatchObject({
      ok: false,
      firstBadPosition: 1,
      reason: expect.stringContaining('lies before position 3, where this check starts: it cannot be checked here'),
    });
    expect(verify(segment, { ...options, head: { position: 4, hash: chain[3]!.hash } }).ok).toBe(true);
    expect(verify(segment, { ...options, head: { hash: chain[0]!.hash } })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('or the head lies before position 3'),
    });
  });
});

describe('export lines and head anchors', () => {
  it('parses sealed and withheld lines and names what is wrong with others', () => {
    const [first] = sealedChain(1);
    expect(parseExportLine(JSON.stringify(first))).toEqual({ entry: first });
    const link = { position: 2, prevHash: first!.hash, hash: 'b'.repeat(64), withheld: true };
    expect(parseExportLine(JSON.stringify(link))).toEqual({ entry: link });
    expect(parseExportLine('{"position":')).toEqual({ error: 'not valid JSON' });
    expect(parseExportLine(JSON.stringify({ ...first, occurredAt: '2026-11-23T10:00:00Z' }))).toEqual({
      error: expect.stringMatching(/^occurredAt must be UTC with microseconds/),
    });
    expect(parseExportLine(JSON.stringify({ ...first, extra: 1 }))).toEqual({ error: expect.stringContaining('extra') });
  });

  it('keeps the exact JSON of an event, "__proto__" members included, so an intact event verifies', () => {
    const data = JSON.parse('{"__proto__": {"polluted": true}, "n": 1}') as Record<string, unknown>;
    const content = { ...event(1), data };
    const sealed = { ...content, prevHash: GENESIS_HASH, hash: chainHash(GENESIS_HASH, content) };
    const line = JSON.stringify(sealed);
    expect(line).toContain('"__proto__":{"polluted":true}');
    const parsed = parseExportLine(line);
    expect('entry' in parsed && Object.keys((parsed.entry as SealedEvent).data)).toEqual(['__proto__', 'n']);
    expect(verify(['entry' in parsed ? parsed.entry : sealed])).toMatchObject({ ok: true, checked: 1 });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('reads HASH and POSITION:HASH', () => {
    const hash = 'ab'.repeat(32);
    expect(parseHeadAnchor(hash)).toEqual({ hash });
    expect(parseHeadAnchor(`42:${hash.toUpperCase()}`)).toEqual({ hash, position: 42 });
    expect(parseHeadAnchor('0:' + hash)).toBeUndefined();
    expect(parseHeadAnchor('abc')).toBeUndefined();
  });
});
