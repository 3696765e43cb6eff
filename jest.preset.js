// Shared Jest settings: @swc/jest compiles TypeScript (with Nest's decorator metadata) far faster
// than ts-jest; type checking is done by `tsc` in the build instead.
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
  // A few dependencies ship only ES modules (Node 20.19+ can require them, Jest's runtime cannot):
  // let swc turn those into CommonJS too.
  transformIgnorePatterns: ['/node_modules/(?!(content-disposition)/)'],
  transform: {
    '^.+\\.(ts|js)$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  moduleNameMapper: {
    '^@herald/projections$': '<rootDir>/../projections/src/index.ts',
  },
};
