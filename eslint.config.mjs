import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

// Boundaries are the architecture: apps import libs only; contracts, resilience and
// observability are leaves; testing helpers never reach production code.
const depConstraints = [
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
  { sourceTag: 'scope:contracts', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'scope:resilience', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'scope:observability', onlyDependOnLibsWithTags: [] },
  { sourceTag: 'scope:messaging', onlyDependOnLibsWithTags: ['scope:contracts', 'scope:observability'] },
  { sourceTag: 'scope:persistence', onlyDependOnLibsWithTags: ['scope:contracts', 'scope:observability'] },
  { sourceTag: 'scope:llm', onlyDependOnLibsWithTags: ['scope:contracts', 'scope:resilience', 'scope:observability'] },
  {
    sourceTag: 'scope:agent-runtime',
    onlyDependOnLibsWithTags: ['scope:contracts', 'scope:messaging', 'scope:persistence', 'scope:llm', 'scope:resilience', 'scope:observability'],
  },
  { sourceTag: 'scope:testing', onlyDependOnLibsWithTags: ['type:lib'] },
  // Deploy tooling (chart checks, k8s/ rendering): the topology from contracts, the workspace root from testing.
  { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['scope:contracts', 'scope:testing'] },
];

// Only spec files may import the test helpers, and the helpers need persistence (to migrate a
// test database): a "cycle" through testing (e.g. persistence -> observability -> (specs) ->
// testing -> persistence) exists in no running program, so it is not reported.
const ignoredCircularDependencies = [['*', 'testing']];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/generated/**', '.nx/**', 'coverage/**', 'tools/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: false, allow: [], depConstraints, ignoredCircularDependencies, banTransitiveDependencies: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests may use the test helpers (real infrastructure on private ports); production code may not.
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: ['@atelier/testing'],
          depConstraints,
          ignoredCircularDependencies,
          banTransitiveDependencies: false,
        },
      ],
    },
  },
);
