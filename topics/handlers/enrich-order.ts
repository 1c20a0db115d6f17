// Type-only import: the handler has no runtime dependency on txstream, so it loads the
// same way from the sources, from the compiled package and inside the container image.
import type { HandlerResult, InputRecord } from '../../src/index.js';

/** The demo's order, as produced by `npm run demo`. */
export interface Order {
  readonly orderId: string;
  readonly customerId: string;
  readonly items: ReadonlyArray<{ readonly sku: string; readonly quantity: number; readonly unitPrice: number }>;
  readonly note?: string;
}

export interface EnrichedOrder extends Order {
  readonly total: number;
  readonly itemCount: number;
  readonly enrichedAt: string;
}

/**
 * Adds totals to an order. An order without items can never be enriched: the error says
 * so (`retryable: false`) and txstream dead-letters the record instead of retrying it.
 */
export function enrichOrder(record: InputRecord<Order>): HandlerResult<EnrichedOrder> {
  const order = record.value;
  if (!order || !Array.isArray(order.items)) {
    throw Object.assign(new Error(`order at ${record.topic}[${record.partition}]@${record.offset} has no items`), { retryable: false });
  }
  const total = order.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0);
  const itemCount = order.items.reduce((sum, item) => sum + item.quantity, 0);
  return { value: { ...order, total: Math.round(total * 100) / 100, itemCount, enrichedAt: new Date().toISOString() } };
}
