// Framework-free core: connection, provisioning, publishing, consuming, queue depth.
export { connectNats, natsConnectionFromEnv, type NatsConnectionOptions } from './nats-connection';
export { ensureConsumers, ensureStreams } from './provisioning';
export { publishJson, type PublishJsonOptions } from './publisher';
export { type InboundMessage } from './inbound-message';
export { type ConsumerHandle, type ConsumerLoopEvent, type ConsumerLoopOptions, type MessageHandler, startConsumer } from './consumer-loop';
export { queueDepth } from './queue-depth';
export { NatsNotReadyError, ProvisioningError, UnsettledMessageError } from './messaging-errors';
// Thin Nest adapter.
export { JETSTREAM_STREAMS_CHECK, MessagingModule } from './messaging.module';
export { type MessagingModuleOptions } from './messaging-options';
export { type ConsumerOptions, JetStreamClient } from './jetstream-client.service';
export { type FollowedMessage, type Follower, type FollowOptions, followSubject } from './subject-follower';
export { publishTaskEvent, type TaskEventInput } from './task-events';
export { describeRejection, type RejectionIssue, schemaIssues } from './rejected-message';
