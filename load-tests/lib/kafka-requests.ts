/**
 * A hook around every Kafka request a process sends, through KafkaJS's internal
 * `Connection.prototype.send`, which every request of every client goes through. Used to measure a
 * worker (request-trace.ts) and, in fault tests, to hold one kind of request
 * (test/fixtures/hold-requests.ts).
 */
import { createRequire } from 'node:module';

export interface KafkaRequest {
  readonly apiName: string;
}
interface ConnectionPrototype {
  send(this: unknown, args: { readonly request: KafkaRequest }): Promise<unknown>;
}

/** Puts `around` about every Kafka request of this process: it gets the request and the send, to call when it will. */
export function wrapKafkaRequests(around: (request: KafkaRequest, send: () => Promise<unknown>) => Promise<unknown>): void {
  const connection = createRequire(import.meta.url)('kafkajs/src/network/connection.js') as { prototype: ConnectionPrototype };
  const send = connection.prototype.send;
  connection.prototype.send = function wrapped(this: unknown, args) {
    return around(args.request, () => send.call(this, args));
  };
}
