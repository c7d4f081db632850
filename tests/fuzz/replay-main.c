/* replay-main.c: a fuzz target as an ordinary program (any compiler, no
 * libFuzzer): runs LLVMFuzzerTestOneInput once on each file named, or on
 * each file of each directory named, and prints one line per input. A
 * crash or a broken check aborts, so make check sees it. */
#include <sys/stat.h>

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

int	 LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static void
usage(void)
{
	fprintf(stderr, "usage: %s file|dir ...\n", ops_progname);
	exit(OPS_EX_USAGE);
}

static void
replay_file(const char *path)
{
	unsigned char *data;
	size_t len;

	data = (unsigned char *)ops_read_file(path, (size_t)64 << 20, &len, 0);
	if (data == NULL)
		ops_dief(OPS_EX_IOERR, "%s", path);
	fprintf(stderr, "%s: %s: %zu bytes\n", ops_progname, path, len);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, in name order. */
static void
replay_dir(const char *dir)
{
	struct dirent *de;
	struct stat st;
	char **names = NULL, *path;
	size_t n = 0, i;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		ops_dief(OPS_EX_IOERR, "%s", dir);
	for (;;) {
		de = readdir(d);
		if (de == NULL)
			break;
		if (de->d_name[0] == '.')
			continue;
		path = ops_path_join(dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		names = ops_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = path;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		replay_file(names[i]);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char *argv[])
{
	struct stat st;
	int i;

	ops_setprogname(argv[0]);
	if (argc < 2)
		usage();
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0)
			ops_dief(OPS_EX_IOERR, "%s", argv[i]);
		if (S_ISDIR(st.st_mode))
			replay_dir(argv[i]);
		else
			replay_file(argv[i]);
	}
	return 0;
}
