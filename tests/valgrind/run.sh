#!/bin/sh
# run.sh: each tool's bats suite with the tools under valgrind's memcheck;
# fails unless every process had 0 errors and 0 bytes definitely lost.
# usage: tests/valgrind/run.sh [suite ...]   (default: the tools' suites)
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/valgrind
suites=${*:-"auth gmail-check http gmail-list gmail-fetch mime-extract receipt-store gmail-label mail-send mail-track ops-httpd config"}

rm -rf "$out"
mkdir -p "$out/bin" "$out/logs"
chmod 1777 "$out/logs"	# tests that run a tool as another user
for t in "$top"/bin/*; do
	n=$(basename "$t")
	cat >"$out/bin/$n" <<SH
#!/bin/sh
exec valgrind --tool=memcheck --quiet --error-exitcode=99 \\
    --leak-check=full --show-leak-kinds=definite \\
    --errors-for-leak-kinds=definite --track-fds=no \\
    --log-file="$out/logs/$n.%p.log" "$t" "\$@"
SH
	chmod 755 "$out/bin/$n"
done

status=0
for s in $suites; do
	printf '== %s\n' "$s"
	GMAIL_OPS_BIN=$out/bin GMAIL_OPS_UNITS=$top/build/normal/unit \
	    BATS_TEST_TIMEOUT=1800 GMAIL_OPS_VALGRIND=1 \
	    bats "$top/tests/$s.bats" >"$out/$s.tap" 2>&1 || status=1
	grep -E '^(not ok|# )' "$out/$s.tap" | head -20
	printf '%s: %s of %s tests ok\n' "$s" "$(grep -c '^ok' "$out/$s.tap")" \
	    "$(sed -n 's/^1\.\.//p' "$out/$s.tap")"
done

# One log per process; a clean one is empty (--quiet).
procs=$(find "$out/logs" -name '*.log' | wc -l)
bad=$(find "$out/logs" -name '*.log' -size +0 | wc -l)
printf 'valgrind: %d processes, %d with errors or definite leaks\n' "$procs" "$bad"
if [ "$bad" -gt 0 ]; then
	status=1
	for f in $(find "$out/logs" -name '*.log' -size +0 | head -5); do
		printf -- '--- %s\n' "$f"
		head -40 "$f"
	done
fi
exit $status
