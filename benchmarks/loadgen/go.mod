module fraudgraph/benchmarks/loadgen

go 1.22
