export * from './streams';
export * from './identity/identity';
