// Type-only import: the handler has no runtime dependency on txstream (see topics/handlers/enrich-order.ts).
import type { HandlerContext, InputRecord } from '../../src/index.js';
import type { Order } from '../../topics/handlers/enrich-order.js';

/**
 * Saves an order as a row, through `ctx.db`: the client of the database transaction that also
 * carries the input offset, so the row and the offset commit together or not at all. An order
 * without items breaks the table's CHECK constraint: txstream dead-letters it with reason
 * `constraint-violation` and its neighbours commit.
 */
export async function saveOrder(record: InputRecord<Order>, ctx: HandlerContext): Promise<void> {
  if (!ctx.db) throw new Error(`pipeline '${ctx.pipeline}' has no PostgreSQL sink (sink.postgres)`);
  const order = record.value;
  const items = Array.isArray(order.items) ? order.items : [];
  const total = items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0);
  const itemCount = items.reduce((sum, item) => sum + item.quantity, 0);
  await ctx.db.query(
    `INSERT INTO orders (order_id, customer_id, total, item_count, lineage) VALUES ($1, $2, $3, $4, $5)`,
    [order.orderId, order.customerId, total.toFixed(2), itemCount, `${record.topic}/${record.partition}/${record.offset}`],
  );
}
