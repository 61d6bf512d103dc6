/*
 * tool.c — option parsing and messages shared by the cbd-* front-ends.
 *
 * The option table is the single source for getopt_long's table and the
 * --help text, so help and parsing cannot drift apart; tests/cli compare
 * --help with each man page.
 */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int n_opts(const struct tool_opt *o)
{
	int n = 0;

	while (o[n].name)
		n++;
	return n;
}

static void print_help(const struct tool *t)
{
	const struct tool_opt *o = t->opts;

	printf("usage: %s %s\n%s\n\noptions:\n", t->name, t->synopsis,
	       t->summary);
	for (int i = 0; o[i].name; i++) {
		char left[64];

		snprintf(left, sizeof(left), "%c%c%s--%s%s%s",
			 o[i].shortname ? '-' : ' ',
			 o[i].shortname ? o[i].shortname : ' ',
			 o[i].shortname ? ", " : "  ", o[i].name,
			 o[i].arg ? " " : "", o[i].arg ? o[i].argname : "");
		printf("  %-30s %s\n", left, o[i].help);
	}
	printf("  %-30s %s\n", "-h, --help", "show this help and exit");
	printf("  %-30s %s\n", "    --version", "show the version and exit");
}

void tool_parse(struct tool *t, int argc, char **argv)
{
	struct option lo[TOOL_MAX_OPTS + 3];
	char shorts[3 * TOOL_MAX_OPTS + 4];
	int n = n_opts(t->opts), k = 0, c, idx;

	if (n > TOOL_MAX_OPTS)
		abort(); /* programmer error: table too long */
	memset(t->count, 0, sizeof(t->count));
	/* GNU permutation: options may follow operands (cbd-serve MODEL
	 * --port 0); "--" ends option parsing. */
	shorts[k++] = 'h';
	for (int i = 0; i < n; i++) {
		lo[i] = (struct option){t->opts[i].name,
					t->opts[i].arg ? required_argument
						       : no_argument,
					NULL, 1000 + i};
		if (t->opts[i].shortname) {
			shorts[k++] = t->opts[i].shortname;
			if (t->opts[i].arg)
				shorts[k++] = ':';
		}
	}
	shorts[k] = 0;
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){"version", no_argument, NULL, 999};
	lo[n + 2] = (struct option){NULL, 0, NULL, 0};
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
		int i = -1;

		if (c == 'h') {
			print_help(t);
			exit(0);
		}
		if (c == 999) {
			printf("%s %s\n", t->name, CBD_VERSION);
			exit(0);
		}
		if (c >= 1000) {
			i = c - 1000;
		} else {
			for (int j = 0; j < n; j++)
				if (t->opts[j].shortname == c)
					i = j;
		}
		if (i < 0) {
			if (optopt && optopt < 256)
				tool_usage_error(t, "unknown option or missing "
						 "argument '-%c'", optopt);
			tool_usage_error(t, "unknown option or missing "
					 "argument '%s'", argv[optind - 1]);
		}
		if (t->count[i] > 0 && !t->opts[i].repeatable)
			tool_usage_error(t, "option --%s given twice",
					 t->opts[i].name);
		if (t->count[i] >= TOOL_MAX_REPEAT)
			tool_usage_error(t, "option --%s given too often",
					 t->opts[i].name);
		t->vals[i][t->count[i]++] = optarg;
	}
	t->argc = argc - optind;
	t->argv = argv + optind;
}

static int find(const struct tool *t, const char *name)
{
	for (int i = 0; t->opts[i].name; i++)
		if (strcmp(t->opts[i].name, name) == 0)
			return i;
	abort(); /* programmer error: no such option in the table */
}

bool tool_has(const struct tool *t, const char *name)
{
	return t->count[find(t, name)] > 0;
}

const char *tool_get(const struct tool *t, const char *name, const char *def)
{
	int i = find(t, name);

	return t->count[i] ? t->vals[i][t->count[i] - 1] : def;
}

int tool_get_all(const struct tool *t, const char *name,
		 const char *const **vals)
{
	int i = find(t, name);

	*vals = t->vals[i];
	return t->count[i];
}

long tool_get_long(const struct tool *t, const char *name, long def,
		   long min, long max)
{
	const char *s = tool_get(t, name, NULL);
	char *end;
	long v;

	if (!s)
		return def;
	v = strtol(s, &end, 10);
	if (*s == 0 || *end != 0 || v < min || v > max)
		tool_usage_error(t, "--%s wants a whole number from %ld to %ld, "
				 "not '%s'", name, min, max, s);
	return v;
}

void tool_error(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", t->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tool_warn(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: warning: ", t->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void tool_usage_error(const struct tool *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", t->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; try '%s --help'\n", t->name);
	exit(EX_USAGE);
}

int tool_fail(const struct tool *t, const cbd_err *err)
{
	tool_error(t, "%s", err->msg[0] ? err->msg : cbd_strerror(err->code));
	return cbd_status_exit(err->code);
}

bool tool_source_date(const struct tool *t, int64_t *out)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!e || !*e)
		return false;
	errno = 0;
	v = strtoll(e, &end, 10);
	if (errno || *end || v < 0)
		tool_usage_error(t, "SOURCE_DATE_EPOCH is not a Unix time "
				 "('%s')", e);
	*out = (int64_t)v;
	return true;
}

int64_t tool_time(const struct tool *t)
{
	int64_t v;

	return tool_source_date(t, &v) ? v : (int64_t)time(NULL);
}
