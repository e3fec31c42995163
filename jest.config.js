// One jest run for the whole workspace. swc transforms our TypeScript AND the ESM-only
// dependencies (NestJS 12, cockatiel, ...) to CommonJS, which ts-jest cannot do on Node 20.
const { readFileSync } = require('node:fs');
const { $comment: _comment, ...swcrc } = JSON.parse(readFileSync(`${__dirname}/.swcrc.json`, 'utf8'));
const { compilerOptions } = JSON.parse(readFileSync(`${__dirname}/tsconfig.base.json`, 'utf8'));

const esmOnly = [
  '@nestjs', 'file-type', 'uid', 'load-esm', 'strtok3', 'token-types', '@tokenizer',
  'uint8array-extras', 'cockatiel',
  // CommonJS, but loads node:http with a dynamic import(), which jest's vm refuses.
  '@opentelemetry/otlp-exporter-base',
  // kubernetes-models (deploy/ chart checks) and its validators' dependencies
  'kubernetes-models', '@kubernetes-models', 'is-cidr', 'cidr-regex', 'ip-regex',
];

module.exports = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/deploy'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', { ...swcrc, swcrc: false, sourceMaps: 'inline' }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: Object.fromEntries(
    Object.entries(compilerOptions.paths).map(([alias, [target]]) => [`^${alias}$`, `<rootDir>/${target.replace('./', '')}`]),
  ),
  resolver: '<rootDir>/tools/jest-resolver.cjs',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  maxWorkers: 2,
  testTimeout: 30000,
};
