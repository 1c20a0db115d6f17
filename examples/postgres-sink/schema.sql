-- The example sink's table (examples/postgres-sink/orders-to-postgres.yaml). txstream creates its
-- own tables (txstream_offsets, txstream_once) when missing; the tables your handler writes are yours.
CREATE TABLE IF NOT EXISTS orders (
  order_id    text PRIMARY KEY,
  customer_id text NOT NULL,
  total       numeric(12, 2) NOT NULL CHECK (total >= 0),
  item_count  integer NOT NULL CHECK (item_count > 0),
  -- Where the row came from (<topic>/<partition>/<offset>): unique, so a row applied twice could not hide.
  lineage     text NOT NULL UNIQUE,
  saved_at    timestamptz NOT NULL DEFAULT now()
);
