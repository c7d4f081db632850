#!/usr/bin/env bats
# Crash consistency, the short version of `make robust`: five trials of
# tests/robust/crash-trials.sh, each a run with one stage (or the driver)
# killed by SIGKILL at a random moment, then a normal run; the store and
# the labels must converge to those of an uninterrupted run. make robust
# runs a hundred; collect.bats has ten kill -9 trials on the demo mailbox.

load helpers

@test "five crash trials: a stage killed at a random moment, then a normal run, converge" {
	run env TRIALS=5 SEED="${CRASH_SEED:-1}" GMAIL_OPS_BIN="${GMAIL_OPS_BIN:-$TOP/bin}" \
	    TMPDIR="$BATS_TEST_TMPDIR" sh "$TESTS_DIR/robust/crash-trials.sh"
	echo "# ${lines[${#lines[@]} - 1]}" >&3
	assert_success
	assert_output --partial "converged 5/5"
}
