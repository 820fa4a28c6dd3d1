// Lint for `npm test` (npm run lint): typed rules that catch what tsc does not — any, switches that miss a member
// of a registry union, promises nobody awaits.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', '**/*.js', '**/*.mjs', '**/*.py']},
  {
    files: ['**/*.ts'],
    languageOptions: {parser: tseslint.parser, parserOptions: {projectService: true, tsconfigRootDir: import.meta.dirname}},
    plugins: {'@typescript-eslint': tseslint.plugin},
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', {considerDefaultExhaustiveForUnions: true}],
      // node:test's test() returns a promise the runner itself tracks.
      '@typescript-eslint/no-floating-promises': ['error', {allowForKnownSafeCalls: [{from: 'package', name: ['test', 'describe', 'it'], package: 'node:test'}]}],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/consistent-type-assertions': ['error', {assertionStyle: 'as', objectLiteralTypeAssertions: 'allow-as-parameter'}],
      '@typescript-eslint/no-unsafe-function-type': 'error',
      '@typescript-eslint/prefer-as-const': 'error',
    },
  },
);
