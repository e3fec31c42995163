/** A stream or consumer could not be created or brought in line with its spec. */
export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
}

/** The readiness check failed: the connection is closed, reconnecting, or JetStream does not answer. */
export class NatsNotReadyError extends Error {
  override readonly name = 'NatsNotReadyError';
}

/** A handler returned without calling ack, nak or term; the loop nak'ed the message for it. */
export class UnsettledMessageError extends Error {
  override readonly name = 'UnsettledMessageError';
}
