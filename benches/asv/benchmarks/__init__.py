"""asv benchmarks of Townlet's hot paths: the workloads of `townlet.perf`, as in `benches/`."""
