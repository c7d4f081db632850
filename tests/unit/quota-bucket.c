/* quota-bucket: drives the token bucket on a simulated clock and checks
 * that no 60-second window exceeds the per-user limit, while the rate
 * stays near it. Prints figures; exits 1 on a violated rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

#define MAXCALLS 200000

static int
run(enum ops_quota_regime regime, const char *method, double minutes)
{
	static double at[MAXCALLS];
	struct ops_quota *q = ops_quota_new(regime, 0);
	double now = 1000.0, end = now + minutes * 60, limit, wait, got;
	int units = ops_quota_units(regime, method), n = 0, i, j, fail = 0;
	long window, worst = 0;

	limit = ops_quota_limit(regime);
	while (now < end && n < MAXCALLS) {
		wait = ops_quota_reserve(q, units, now);
		if (wait > 0) {
			now += wait;
			continue;
		}
		at[n++] = now;
		now += 0.001;		/* a greedy caller */
	}
	for (i = 0, j = 0; i < n; i++) {
		while (at[i] - at[j] >= 60.0)
			j++;
		window = (long)(i - j + 1) * units;
		if (window > worst)
			worst = window;
	}
	got = (double)n * units / minutes;
	printf("%s %s: %d units/call, %d calls in %.0f min, worst 60 s window "
	    "%ld units (limit %.0f), mean %.0f units/min (%.1f%% of limit)\n",
	    regime == OPS_QUOTA_2026 ? "2026" : "legacy", method, units, n,
	    minutes, worst, limit, got, 100.0 * got / limit);
	if (worst > limit) {
		printf("FAIL: a window exceeded the limit\n");
		fail = 1;
	}
	if (got < 0.85 * limit) {
		printf("FAIL: the bucket wastes more than 15%% of the quota\n");
		fail = 1;
	}
	ops_quota_free(q);
	return fail;
}

int
main(void)
{
	int fail = 0;

	if (ops_quota_units(OPS_QUOTA_2026, "messages.get") != 20 ||
	    ops_quota_units(OPS_QUOTA_LEGACY, "messages.get") != 5 ||
	    ops_quota_units(OPS_QUOTA_2026, "messages.attachments.get") != 20 ||
	    ops_quota_units(OPS_QUOTA_2026, "messages.list") != 5 ||
	    ops_quota_units(OPS_QUOTA_2026, "messages.send") != 100 ||
	    ops_quota_limit(OPS_QUOTA_2026) != 6000 ||
	    ops_quota_limit(OPS_QUOTA_LEGACY) != 15000) {
		printf("FAIL: quota table\n");
		fail = 1;
	}
	fail |= run(OPS_QUOTA_2026, "messages.get", 10);
	fail |= run(OPS_QUOTA_LEGACY, "messages.get", 10);
	fail |= run(OPS_QUOTA_2026, "messages.send", 10);
	fail |= run(OPS_QUOTA_2026, "getProfile", 3);
	return fail;
}
