/* cli.c: the options every tool shares, so -c, -o and --version behave
 * the same everywhere. */
#include <stdio.h>
#include <stdlib.h>

#include "gmailops.h"

void
ops_cli_flag(struct ops_cli *cli, const char *key, const char *val)
{
	if (cli->n == OPS_CLI_MAXOPTS)
		ops_die(OPS_EX_USAGE, "too many options");
	cli->key[cli->n] = key;
	cli->val[cli->n++] = val;
}

int
ops_cli_option(struct ops_cli *cli, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		cli->cfgfile = arg;
		return 1;
	case 'o':
		ops_cli_flag(cli, NULL, arg);
		return 1;
	case OPS_OPT_VERSION:
		printf("%s %s\n", ops_progname, OPS_VERSION);
		exit(ops_close_stdout());
	default:
		return 0;
	}
}

struct ops_config *
ops_cli_config(const struct ops_cli *cli)
{
	struct ops_config *c = ops_config_load(cli->cfgfile);
	int i;

	for (i = 0; i < cli->n; i++) {
		if (cli->key[i] == NULL)
			ops_config_set_opt(c, cli->val[i]);
		else
			ops_config_set_flag(c, cli->key[i], cli->val[i]);
	}
	return c;
}
