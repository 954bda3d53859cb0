/** Injection tokens of `MessagingModule`. Inject with `@Inject(TOKEN)`: the apps are built without decorator metadata. */
export const NATS_CONNECTION = 'keel.messaging.NatsConnection';
export const JETSTREAM = 'keel.messaging.JetStreamClient';
export const JETSTREAM_MANAGER = 'keel.messaging.JetStreamManager';
/** The deployment's `KeelNames` (`keelNames(prefix)`). */
export const KEEL_NAMES = 'keel.messaging.KeelNames';
export const MESSAGING_LOGGER = 'keel.messaging.Logger';
export const MESSAGING_OPTIONS = 'keel.messaging.Options';
