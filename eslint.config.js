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
);
