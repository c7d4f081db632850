/* pixel-put: makes N tracking records as mail-send does after a send
 * (ops_pixel_put) and prints their pixel ids, one a line: for the
 * mail-track bench and tests that need records without a Gmail. With
 * -x, stores value as the record of id as it is (a damaged record).
 * usage: pixel-put [-c file] [-o key=value] [count | -x id value] */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "gmailops.h"

static void
put_raw(struct ops_mailstore *store, const char *id, const char *value)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	v.mv_data = (void *)value;
	v.mv_size = strlen(value);
	rc = mdb_txn_begin(ops_mailstore_env(store), NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_put(txn, ops_mailstore_pixel_dbi(store), &k, &v, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	if (rc != 0)
		ops_die(OPS_EX_IOERR, "%s: %s", id, mdb_strerror(rc));
}

int
main(int argc, char *argv[])
{
	struct ops_cli cli = { 0 };
	struct ops_mailstore *store;
	struct ops_config *c;
	struct ops_mail m;
	char id[OPS_UUID_LEN + 1], msgid[64], err[512], *end;
	long count = 1, i;
	int ch, code, raw = 0;

	ops_setprogname(argv[0]);
	while ((ch = getopt(argc, argv, "c:o:x")) != -1) {
		if (ch == 'x')
			raw = 1;
		else if (!ops_cli_option(&cli, ch, optarg))
			ops_die(OPS_EX_USAGE, "usage: pixel-put [-c file] "
			    "[-o key=value] [count | -x id value]");
	}
	argc -= optind;
	argv += optind;
	if (raw && argc != 2)
		ops_die(OPS_EX_USAGE, "-x: an id and a value");
	if (!raw && argc == 1) {
		count = strtol(argv[0], &end, 10);
		if (*end != '\0' || count < 1 || count > 100000)
			ops_die(OPS_EX_USAGE, "%s: a count from 1 to 100000",
			    argv[0]);
	}
	c = ops_cli_config(&cli);
	store = ops_mailstore_open(c, &code, err, sizeof(err));
	if (store == NULL)
		ops_die(code, "%s", err);
	if (raw) {
		put_raw(store, argv[0], argv[1]);
		count = 0;
	}
	memset(&m, 0, sizeof(m));
	m.to = "reader@example.com";
	m.subject = "pixel-put";
	m.body = "";
	for (i = 0; i < count; i++) {
		if (ops_uuid4(id) != 0)
			ops_die(OPS_EX_SOFTWARE, "no random bytes");
		snprintf(msgid, sizeof(msgid), "pixel-put-%ld", i);
		if (ops_pixel_put(store, id, &m, msgid, NULL, err,
		    sizeof(err)) != 0)
			ops_die(OPS_EX_IOERR, "%s", err);
		printf("%s\n", id);
	}
	ops_mailstore_close(store);
	ops_config_free(c);
	return ops_close_stdout();
}
