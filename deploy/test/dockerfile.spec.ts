import ignore from '@balena/dockerignore';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART_DIR, workspaceRoot } from '../src/workspace';

// No Docker engine runs here, so the Dockerfile is checked against the repository:
// what it copies exists in the build context, each service's image runs its built
// entry point as the chart's non-root user, and the orchestrator image carries what the
// chart's migration Job and the runbook call.

interface Instruction {
  keyword: string;
  args: string;
  /** Heredoc body, for COPY <<EOF. */
  body?: string;
}

interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

const root = workspaceRoot();
const read = (path: string) => readFileSync(join(root, path), 'utf8');

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  const at = (index: number) => (lines[index] ?? '').trim();
  for (let index = 0; index < lines.length; index += 1) {
    let line = at(index);
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\')) line = `${line.slice(0, -1).trim()} ${at((index += 1))}`;
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction: Instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    const [, terminator] = /<<-?'?(\w+)'?/.exec(instruction.args) ?? [];
    if (terminator) {
      const end = lines.indexOf(terminator, index + 1);
      instruction.body = lines.slice(index + 1, end).join('\n');
      index = end;
    }
    if (instruction.keyword === 'FROM') {
      const [from = '', , name = ''] = rest;
      stages.push({ name, from, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

const stages = parseDockerfile(read('Dockerfile'));
const stage = (name: string) => {
  const found = stages.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no stage ${name}`);
  return found;
};
/** A stage's instructions with those of the stages it is built FROM. */
const inherited = (name: string): Instruction[] => {
  const { from, instructions } = stage(name);
  return [...(stages.some((candidate) => candidate.name === from) ? inherited(from) : []), ...instructions];
};
const last = (name: string, keyword: string) => inherited(name).filter((instruction) => instruction.keyword === keyword).at(-1)?.args;
const env = (name: string) =>
  Object.fromEntries(
    inherited(name)
      .filter(({ keyword }) => keyword === 'ENV')
      .flatMap(({ args }) => [...args.matchAll(/(\w+)=(\S+)/g)].map(([, key, value]) => [key, value])),
  );

/** Files git knows (tracked or not ignored), as `docker build .` would send them, minus .dockerignore. */
const contextFiles = (() => {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((file) => file && existsSync(join(root, file)));
  return ignore().add(read('.dockerignore')).filter(files);
})();

const values = parse(read(`${CHART_DIR}/values.yaml`));
const SERVICES = [
  { target: 'orchestrator', values: values.orchestrator },
  { target: 'research-agent', values: values.researchAgent },
  { target: 'writer-agent', values: values.writerAgent },
  { target: 'llm-simulator', values: values.simulator },
];

describe('the build context (.dockerignore)', () => {
  test('sends sources, the lock, Prisma schema and migrations and the build tools', () => {
    for (const file of [
      'package.json',
      'package-lock.json',
      'nx.json',
      'project.json',
      'apps/orchestrator/project.json',
      'prisma.config.ts',
      'prisma/schema.prisma',
      'tools/build.mjs',
      'tools/prisma-generate.mjs',
      'apps/orchestrator/src/main.ts',
      'libs/persistence/src/migrate-cli.ts',
      'deploy/src/kube-tools.ts',
    ]) {
      expect(contextFiles).toContain(file);
    }
    expect(contextFiles.some((file) => file.startsWith('prisma/migrations/') && file.endsWith('migration.sql'))).toBe(true);
  });

  test('keeps out tests, generated code, local state, the chart and the docs', () => {
    const leaked = contextFiles.filter((file) =>
      /(^|\/)(node_modules|dist|test|\.git|\.atelier)\/|\.spec\.ts$|^(helm|k8s|docs|bench|\.ci)\/|(^|\/)\.env/.test(file),
    );
    expect(leaked).toEqual([]);
  });

  test('holds every path the Dockerfile copies from it', () => {
    const sources = stages
      .flatMap(({ instructions }) => instructions)
      .filter(({ keyword, args, body }) => keyword === 'COPY' && !args.includes('--from=') && body === undefined)
      .flatMap(({ args }) => args.split(/\s+/).filter((word) => !word.startsWith('--')).slice(0, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      const path = source.replace(/\/$/, '');
      expect([source, contextFiles.some((file) => file === path || file.startsWith(`${path}/`))]).toEqual([source, true]);
    }
  });
});

describe('the build stage', () => {
  const runs = stage('build')
    .instructions.filter(({ keyword }) => keyword === 'RUN')
    .map(({ args }) => args);

  test('installs exactly the lock with npm ci and generates the Prisma client', () => {
    expect(runs[0]).toMatch(/^npm ci --ignore-scripts .*&& node tools\/prisma-generate\.mjs$/);
  });

  test('builds with the Nx build target (no daemon, no cloud, no cache), then drops dev dependencies', () => {
    expect(runs[1]).toMatch(/^npx nx run-many -t build --skip-nx-cache .*&& npm prune --omit=dev /);
    expect(env('build')).toMatchObject({ NX_DAEMON: 'false', NX_NO_CLOUD: 'true' });
    const nx = JSON.parse(read('nx.json')) as { neverConnectToCloud?: boolean };
    expect(nx.neverConnectToCloud).toBe(true);
    // The one build target: tools/build.mjs compiles every app and lib in one swc pass.
    const workspace = JSON.parse(read('project.json')) as { targets: Record<string, { command: string; outputs: string[]; cache: boolean }> };
    expect(workspace.targets['build']).toMatchObject({ command: 'node tools/build.mjs', outputs: ['{workspaceRoot}/dist'], cache: true });
    expect(read('package.json')).toContain('"build": "node tools/build.mjs"');
  });

  test('fetches the Prisma schema engine for the runtime platform and runs it once', () => {
    const fetch = inherited('schema-engine').filter(({ keyword }) => keyword === 'RUN').at(-1)?.args ?? '';
    expect(fetch).toMatch(/PRISMA_CLI_BINARY_TARGETS=.*node node_modules\/@prisma\/engines\/scripts\/postinstall\.js/);
    expect(fetch).toMatch(/\/out\/schema-engine --version$/);
    expect(existsSync(join(root, 'node_modules/@prisma/engines/scripts/postinstall.js'))).toBe(true);
  });
});

describe.each(SERVICES)('image $target', ({ target, values: service }) => {
  test('runs its built entry point with node', () => {
    const entry = `dist/apps/${target}/src/main.js`;
    expect(last(target, 'CMD')).toBe(JSON.stringify(['node', entry]).replaceAll(',', ', '));
    expect(existsSync(join(root, `apps/${target}/src/main.ts`))).toBe(true);
    const copies = inherited(target).filter(({ keyword }) => keyword === 'COPY').map(({ args }) => args);
    expect(copies).toContain(`--from=build /src/dist/apps/${target}/ dist/apps/${target}/`);
    expect(copies).toContain('--from=build /src/dist/libs/ dist/libs/');
    expect(copies).toContain('--from=build /src/node_modules/ node_modules/');
  });

  test("runs as the chart's numeric non-root user, on the chart's port, under the chart's image name", () => {
    expect(last(target, 'USER')).toBe(`${values.podSecurityContext.runAsUser}:${values.podSecurityContext.runAsGroup}`);
    expect(last(target, 'WORKDIR')).toBe('/app');
    expect(last(target, 'EXPOSE')).toBe(String(service.port));
    expect(env(target)['PORT']).toBe(String(service.port));
    expect(env(target)['HOME']).toBe('/tmp');
    expect(service.image.name).toBe(target);
    expect(read('Dockerfile')).toMatch(new RegExp(`docker build --target ${target} +-t \\$REGISTRY/${values.image.repository}/${target}:`));
  });
});

describe('image orchestrator: the operations image', () => {
  const copies = inherited('orchestrator').filter(({ keyword }) => keyword === 'COPY');

  test("carries `prisma migrate deploy` as the chart's migration Job calls it, with its engine and no download", () => {
    expect(values.migrations.command).toEqual(['prisma', 'migrate', 'deploy']);
    expect(env('orchestrator')['PATH']).toMatch(/^\/app\/node_modules\/\.bin:/);
    expect(read('package.json')).toMatch(/"prisma": "/);
    expect(copies.map(({ args }) => args)).toEqual(
      expect.arrayContaining([
        '--from=build /src/prisma/ prisma/',
        '--from=build /src/prisma.config.ts ./',
        '--from=schema-engine /out/schema-engine /opt/prisma/schema-engine',
      ]),
    );
    expect(env('orchestrator')).toMatchObject({
      PRISMA_SCHEMA_ENGINE_BINARY: '/opt/prisma/schema-engine',
      CHECKPOINT_DISABLE: '1',
      JITI_FS_CACHE: 'false',
    });
  });

  test('carries the offline migration runner and the `atelier` CLI', () => {
    expect(existsSync(join(root, 'libs/persistence/src/migrate-cli.ts'))).toBe(true);
    const wrapper = copies.find(({ body }) => body !== undefined);
    expect(wrapper?.args).toMatch(/^--chmod=0755 <<'EOF' \/usr\/local\/bin\/atelier$/);
    expect(wrapper?.body).toBe('#!/bin/sh\nexec node /app/dist/apps/cli/src/main.js "$@"');
    expect(copies.map(({ args }) => args)).toContain('--from=build /src/dist/apps/cli/ dist/apps/cli/');
  });

  test('is the default target', () => {
    expect(stages.at(-1)?.name).toBe('orchestrator');
  });
});
