import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['common/**/*.ts', 'server/**/*.ts', 'client/**/*.ts'],
    ignores: ['**/*cli.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // ssh2 pads its packets from a pool only when loaded through server/ssh/ssh2.ts, first.
    files: ['common/**/*.ts', 'server/**/*.ts', 'client/**/*.ts'],
    ignores: ['server/ssh/ssh2.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [{ name: 'ssh2', message: "Import ssh2 from server/ssh/ssh2.js (types may come from 'ssh2').", allowTypeImports: true }],
      }],
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "MemberExpression[object.property.name='utils'][property.name='generateKeyPairSync']",
        message: 'ssh2 breaks one ed25519 key in 256 (mscdex/ssh2#1390): use generateEd25519Key from server/ssh/ed25519-key.js.',
      }],
    },
  },
);
