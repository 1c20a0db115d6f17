import { defineHandler, NonRetryableError } from '../../src/index.js';

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

/** Adds totals to an order; an order without items cannot be enriched and is dead-lettered. */
export const enrichOrder = defineHandler<Order, EnrichedOrder>({
  handle(record) {
    const order = record.value;
    if (!order || !Array.isArray(order.items)) throw new NonRetryableError(`order at offset ${record.offset} has no items`);
    const total = order.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0);
    const itemCount = order.items.reduce((sum, item) => sum + item.quantity, 0);
    return { value: { ...order, total: Math.round(total * 100) / 100, itemCount, enrichedAt: new Date().toISOString() } };
  },
});
