#!/usr/bin/env bats
# The C unit checks of lib/: quota bucket on a simulated clock, base64,
# URLs, times, backoff bounds, Gmail method names.

load helpers

@test "token bucket: no 60 s window over the per-user limit, rate near it" {
	run "$UNITS/quota-bucket"
	echo "$output"
	assert_success
	assert_line --partial "2026 messages.get: 20 units/call"
	assert_line --partial "legacy messages.get: 5 units/call"
}

@test "lib checks: base64, loopback URLs, RFC 3339, backoff, method names, forms, PBKDF2" {
	run "$UNITS/lib-units"
	echo "$output"
	assert_success
	assert_output "all lib checks passed"
}
