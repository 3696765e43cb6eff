export * from './streams';
export * from './identity/identity';
export * from './stats';
export * from './events';
export * from './time';
export * from './segments';
export * from './profiles';
export * from './messaging';
