"""Flash sales, cart, orders, payment and refunds: commerce in the stream."""
