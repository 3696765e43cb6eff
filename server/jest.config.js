module.exports = { ...require('../jest.preset.js'), displayName: 'server', testTimeout: 30000 };
