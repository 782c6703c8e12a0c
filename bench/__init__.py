"""finder's benchmark: latency, throughput, import, memory and freshness against peers."""
