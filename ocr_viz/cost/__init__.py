"""What each head costs: parameters, FLOPs, memory, time; the benchmarks that measure them."""
