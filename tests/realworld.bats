#!/usr/bin/env bats
# Real-world MIME: the test messages Debian packages ship, through
# mime-extract. No crash, no hang (10 s a message), and the attachments
# those Python's email package finds by the same rules
# (tests/realworld/compare.py), except the differences listed and
# explained in tests/realworld/expected-differences.txt.

load helpers

RW="$TESTS_DIR/realworld"
# libpython3.11-testsuite, golang-github-jhillyerd-enmime-dev and
# python3-flufl.bounce (scripts/install-deps)
CORPORA=(
	"python=/usr/lib/python3.11/test/test_email/data:msg_*.txt"
	"enmime=/usr/share/gocode/src/github.com/jhillyerd/enmime/testdata:*.raw"
	"flufl.bounce=/usr/lib/python3/dist-packages/flufl/bounce/tests/data:*.txt"
)

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

compare() {
	run python3 "$RW/compare.py" --timeout 10 "$@" "${CORPORA[@]}"
}

@test "Debian's mail test messages: no crash, no hang, Python's attachments but for the listed differences" {
	compare --expect "$RW/expected-differences.txt"
	assert_success
	assert_line --index 0 'python: 47 messages, 10 attachments compared, 9 agree, 12 differences'
	assert_line --index 1 'enmime: 79 messages, 35 attachments compared, 34 agree, 5 differences'
	assert_line --index 2 'flufl.bounce: 115 messages, 7 attachments compared, 4 agree, 3 differences'
	assert_line --index 3 'total: 241 messages, 52 attachments compared, 47 agree, 20 differences'
	assert_line --index 4 --regexp '^slowest message: [0-9]\.[0-9]{2} s \(bound 10 s\)$'
	[ "${#lines[@]}" = 5 ]
}

@test "the expectations are exact: a new difference and a vanished one both fail" {
	grep -v 'msg_15.txt' "$RW/expected-differences.txt" >fewer.txt
	{ cat "$RW/expected-differences.txt"
	  echo '["python/msg_01.txt", "9", "size", 1, 2]  # not so'; } >more.txt
	compare --expect fewer.txt
	assert_failure
	assert_line 'new difference: ["python/msg_15.txt", "2", "only-mime-extract", ["xx.gif", 21], null]'
	compare --expect more.txt
	assert_failure
	assert_line 'vanished difference: ["python/msg_01.txt", "9", "size", 1, 2]  # not so'
	# every line says why
	sed 's/  #.*//' "$RW/expected-differences.txt" >nowhy.txt
	compare --expect nowhy.txt
	assert_failure
	assert_output --regexp 'nowhy.txt:[0-9]+: no "# why"'
}

@test "a crash or a hang in mime-extract fails the comparison at once" {
	mkdir shim
	printf '#!/bin/sh\nkill -SEGV $$\n' >shim/mime-extract
	chmod +x shim/mime-extract
	compare --mime-extract shim/mime-extract
	assert_failure
	assert_output --regexp 'mime-extract exited -11'
	printf '#!/bin/sh\nexec sleep 30\n' >shim/mime-extract
	compare --timeout 0.5 --mime-extract shim/mime-extract
	assert_failure
	assert_output --regexp 'mime-extract took more than 0.5 s$'
}
