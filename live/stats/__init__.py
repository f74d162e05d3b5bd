"""Numbers: room counters maintained as events happen, time series, funnel, customers."""
