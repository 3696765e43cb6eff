export * from './streams';
export * from './identity/identity';
export * from './stats';
