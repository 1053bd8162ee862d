/**
 * The error answers of the management API, as RabbitMQ sends them: a status code and a JSON body
 * `{"error": "...", "reason": "..."}`. AMQP errors raised by the vhost map to the statuses RabbitMQ's
 * management plugin uses for the same failures (404 not found, 405/423 locked, 406 → 400, 403 …).
 */
import { AmqpError } from '../errors.js';

/** A failure to send back as a RabbitMQ-style error body. */
export class AdminHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    /** Usually text; a few RabbitMQ answers carry a list (`["no_such_user","bob"]`). */
    readonly reason: string | readonly unknown[],
  ) {
    super(typeof reason === 'string' ? reason : JSON.stringify(reason));
  }
}

export function notFound(): AdminHttpError {
  return new AdminHttpError(404, 'Object Not Found', 'Not Found');
}

export function badRequest(reason: string): AdminHttpError {
  return new AdminHttpError(400, 'bad_request', reason);
}

/** The HTTP error for an {@link AmqpError} thrown by a vhost operation. */
export function fromAmqpError(err: AmqpError): AdminHttpError {
  const text = err.message;
  switch (err.replyCode) {
    case 404:
      return new AdminHttpError(404, 'not_found', text);
    case 403:
      return new AdminHttpError(403, 'access_refused', text);
    case 405:
      return new AdminHttpError(400, 'bad_request', text);
    default:
      return new AdminHttpError(400, 'bad_request', text);
  }
}

/** Runs a vhost operation, turning its AMQP errors into HTTP ones. */
export function amqp<T>(op: () => T): T {
  try {
    return op();
  } catch (err) {
    if (err instanceof AmqpError) throw fromAmqpError(err);
    throw err;
  }
}
