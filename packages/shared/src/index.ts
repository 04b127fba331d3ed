export { parseEnv } from './env.js';
export * from './errors.js';
export { endToEndHeaders, type HeaderMap, HOP_BY_HOP_HEADERS } from './headers.js';
export { createLogger, type Logger } from './log.js';
export {
  type NatsConnectOptions,
  NatsEnv,
  natsConnectOptions,
  natsConnectProblem,
  natsServers,
} from './nats-env.js';
export {
  checkTarget,
  type GuardOptions,
  interfaceAddresses,
  pinnedLookup,
  type Resolved,
  type Resolver,
  systemResolver,
  type Target,
} from './outbound.js';
export * from './schedules.js';
export * from './schemas.js';
export { EXIT_CONFIG, EXIT_USAGE, runServiceCommand, type ServiceCommand } from './service-command.js';
export * from './subjects.js';
export * from './triggers.js';
export * from './wire/invoke.js';
