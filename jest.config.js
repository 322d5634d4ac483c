/** @type {import('jest').Config} */
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] }
}

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/**/*.unit.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/__tests__/**/*.int.test.ts'] }
  ],
  testTimeout: 600000
}
