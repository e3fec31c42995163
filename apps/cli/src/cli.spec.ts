import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chainHash, GENESIS_HASH, type SealedEvent } from '@atelier/contracts';
import { runCli } from './cli';

function buffer() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = buffer();
  const stderr = buffer();
  const code = await runCli(args, { stdout: stdout.stream, stderr: stderr.stream, env });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function chain(length: number): SealedEvent[] {
  const events: SealedEvent[] = [];
  let prevHash = GENESIS_HASH;
  for (let position = 1; position <= length; position++) {
    const content = {
      position,
      seq: position + 100,
      occurredAt: `2026-11-23T10:00:00.00000${position % 10}Z`,
      tenantId: null,
      actor: 'service:orchestrator',
      action: 'task.completed',
      subject: `task:${position}`,
      taskId: null,
      traceId: null,
      requestId: null,
      data: { documentLength: position * 7, note: 'ünïcode, "quotes"' },
    };
    const hash = chainHash(prevHash, content);
    events.push({ ...content, prevHash, hash });
    prevHash = hash;
  }
  return events;
}

describe('atelier CLI', () => {
  describe('command line', () => {
    it('prints usage: on stderr with exit 2 when called bare, on stdout with exit 0 for --help', async () => {
      const bare = await cli([]);
      expect(bare).toMatchObject({ code: 2, stdout: '' });
      expect(bare.stderr).toContain('Usage: atelier <tasks|audit> <command>');
      const help = await cli(['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('audit verify');
      const commandHelp = await cli(['tasks', 'submit', '--help']);
      expect(commandHelp.code).toBe(0);
      expect(commandHelp.stdout).toContain('--idempotency-key KEY');
    });

    it.each([
      [['tasks', 'frobnicate'], 'unknown command "tasks frobnicate"'],
      [['audit', 'list', '--colour'], "Unknown option '--colour'"],
      [['tasks', 'get'], 'missing argument'],
      [['tasks', 'get', 'a', 'b'], 'unexpected argument "b"'],
      [['tasks', 'list', '--limit', 'ten'], '--limit must be an integer'],
      [['tasks', 'submit'], 'give the goal once'],
      [['tasks', 'submit', 'goal', '--metadata', 'novalue'], '--metadata must be KEY=VALUE'],
      [['audit', 'verify', '--file', 'x.ndjson', '--head', 'nothex'], '--head must be a hash'],
      [['audit', 'verify', '--file', 'x.ndjson', '--to', '2'], 'an export file is verified to its end'],
      [['audit', 'verify', '--file', 'x.ndjson', '--from', '2'], '--from and --prev go together'],
      [['audit', 'verify', '--file', 'x.ndjson', '--from', '2', '--prev', 'abc'], '--prev must be a hash'],
      [['audit', 'verify', '--prev', 'a'.repeat(64)], '--prev applies to an export file'],
      [['audit', 'export', '--format', 'xml'], '--format must be ndjson or csv'],
      [['audit', 'show', '12', '--task', 'x'], 'give either an event seq or --task'],
      [['audit', 'head'], 'no API key: set ATELIER_API_KEY or pass --api-key'],
      [['audit', 'head', '--api-key', 'k', '--api-url', 'ftp://x'], 'is not an http(s) URL'],
    ])('refuses %j with exit 2 and a clear message', async (args, message) => {
      const result = await cli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('--help');
    });

    it('reports an unreachable API with exit 1', async () => {
      const result = await cli(['audit', 'head'], { ATELIER_API_KEY: 'k', ATELIER_API_URL: 'http://127.0.0.1:9' });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('cannot reach the API at http://127.0.0.1:9');
    });
  });

  describe('audit verify --file (offline)', () => {
    let dir: string;
    const exportFile = async (name: string, lines: unknown[]) => {
      const path = join(dir, name);
      await writeFile(path, lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n') + '\n');
      return path;
    };

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'atelier-cli-'));
    });

    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('accepts an intact export, with and without the head taken at export time', async () => {
      const events = chain(5);
      const file = await exportFile('intact.ndjson', events);
      expect(await cli(['audit', 'verify', '--file', file])).toMatchObject({ code: 0, stdout: expect.stringContaining('OK: file') });
      const anchored = await cli(['audit', 'verify', '--file', file, '--head', `5:${events[4]!.hash}`, '--json']);
      expect(anchored.code).toBe(0);
      expect(JSON.parse(anchored.stdout)).toMatchObject({ ok: true, checked: 5, firstBadPosition: null });
    });

    it('names the first bad position of an edited, a deleted and a swapped event (exit 3)', async () => {
      const events = chain(6);
      const edited = events.map((event) => (event.position === 3 ? { ...event, data: { ...event.data, documentLength: 0 } } : event));
      const deleted = events.filter((event) => event.position !== 4);
      const swapped = [events[0], events[2], events[1], ...events.slice(3)];
      for (const [name, lines, position] of [
        ['edited', edited, 3],
        ['deleted', deleted, 4],
        ['swapped', swapped, 2],
      ] as const) {
        const result = await cli(['audit', 'verify', '--file', await exportFile(`${name}.ndjson`, [...lines])]);
        expect(result.code).toBe(3);
        expect(result.stdout).toContain(`FAILED: file`);
        expect(result.stdout).toContain(`first bad position ${position}:`);
      }
    });

    it('catches a cut tail only against a head taken earlier', async () => {
      const events = chain(6);
      const cut = await exportFile('cut.ndjson', events.slice(0, 4));
      expect((await cli(['audit', 'verify', '--file', cut])).code).toBe(0);
      const anchored = await cli(['audit', 'verify', '--file', cut, '--head', events[5]!.hash]);
      expect(anchored.code).toBe(3);
      expect(anchored.stdout).toContain('first bad position 5: the chain ends at position 4, before the anchored head');
    });

    it('fails an export whose first event was removed, unless --from/--prev anchor the segment it is', async () => {
      const events = chain(5);
      const headless = await exportFile('headless.ndjson', events.slice(1));
      const result = await cli(['audit', 'verify', '--file', headless]);
      expect(result.code).toBe(3);
      expect(result.stdout).toContain('first bad position 1: position 1 is missing: the event was deleted');
      expect(result.stdout).toContain('pass --from POSITION --prev HASH');

      const segment = await cli(['audit', 'verify', '--file', headless, '--from', '2', '--prev', events[0]!.hash, '--head', `5:${events[4]!.hash}`]);
      expect(segment).toMatchObject({ code: 0, stdout: expect.stringContaining('OK: file') });
      expect(segment.stdout).toContain('a segment from position 2');
      const wrongPrev = await cli(['audit', 'verify', '--file', headless, '--from', '2', '--prev', 'e'.repeat(64)]);
      expect(wrongPrev).toMatchObject({ code: 3, stdout: expect.stringContaining('first bad position 2: prev_hash does not match') });
      const tooLate = await cli(['audit', 'verify', '--file', await exportFile('late.ndjson', events.slice(2)), '--from', '2', '--prev', events[0]!.hash]);
      expect(tooLate).toMatchObject({ code: 3, stdout: expect.stringContaining('first bad position 2: position 2 is missing') });
      const headBefore = await cli(['audit', 'verify', '--file', headless, '--from', '2', '--prev', events[0]!.hash, '--head', `1:${events[0]!.hash}`]);
      expect(headBefore).toMatchObject({ code: 3, stdout: expect.stringContaining('cannot be checked here') });
    });

    it('verifies an intact event whose data holds a "__proto__" member', async () => {
      const data = JSON.parse('{"__proto__": {"admin": true}, "note": "kept as data"}') as Record<string, unknown>;
      const content = { ...chain(1)[0]!, data };
      const { prevHash: _prev, hash: _hash, ...event } = content;
      const sealed = { ...event, prevHash: GENESIS_HASH, hash: chainHash(GENESIS_HASH, event) };
      const result = await cli(['audit', 'verify', '--file', await exportFile('proto.ndjson', [JSON.stringify(sealed)])]);
      expect(result).toMatchObject({ code: 0, stdout: expect.stringContaining('OK: file') });
    });

    it('names the line that is not a chain entry, and fails with exit 1 on a missing file', async () => {
      const events = chain(3);
      const broken = await exportFile('broken.ndjson', [events[0], '{"position": 2, "oops": true', events[2]]);
      const result = await cli(['audit', 'verify', '--file', broken]);
      expect(result.code).toBe(3);
      expect(result.stdout).toContain('first bad position 2: line 2 is not a chain entry: not valid JSON');
      const missing = await cli(['audit', 'verify', '--file', join(dir, 'nope.ndjson')]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('ENOENT');
    });
  });
});
