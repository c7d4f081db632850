# mk/bench.mk: the benchmarks of the performance issue besides
# bench/collect-quota.sh (quota thrift against the ideal and the seed's
# flow, and the idle run) and bench/mail-track.sh, which `make bench` runs
# itself. Figures as ratios against peers and limits measured in the same
# run, in bench/results/.
#   bench/local-throughput.sh  mime-extract | receipt-store beside Python's
#                              email, ripmime, munpack and the limit
#                              (BENCH_LOCAL_MESSAGES, default 5000)
#   bench/peak-rss.sh          peak RSS of each stage at 1,000 and 10,000
#                              messages (BENCH_RSS_SIZES)
# and, last, bench/summary.sh: every goal beside its figure, one table
# (results/summary.md); it fails when a goal is not met.

.PHONY: bench-local

bench-local: all
	sh bench/local-throughput.sh
	sh bench/peak-rss.sh
