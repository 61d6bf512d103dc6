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

/* The shared options as tool.h defines them: a table that gives one of
 * their names another letter, or one of their letters to another option,
 * is a programmer error. */
static const struct tool_opt shared[] = {
	TOOL_OPT_KEY(NULL),    TOOL_OPT_KEYRING(NULL),
	TOOL_OPT_THREADS(NULL), TOOL_OPT_OUTPUT(NULL),
	TOOL_OPT_QUIET(NULL),  TOOL_OPT_JSON(NULL),
	TOOL_OPT_PASSPHRASE_FILE(NULL),
};

static void bad_table(const struct tool *t, int i, const char *why)
{
	fprintf(stderr, "%s: option table entry %d: %s\n", t->name, i, why);
	abort(); /* programmer error */
}

static void check_entry(const struct tool *t, int i)
{
	const struct tool_opt *o = &t->opts[i];

	if (!o->name)
		bad_table(t, i, "missing (no entry for this enum value)");
	if (o->shortname == 'h')
		bad_table(t, i, "-h is --help");
	for (int j = 0; j < i; j++)
		if (strcmp(t->opts[j].name, o->name) == 0 ||
		    (o->shortname && t->opts[j].shortname == o->shortname))
			bad_table(t, i, "name or letter used twice");
	for (size_t s = 0; s < sizeof(shared) / sizeof(shared[0]); s++) {
		const struct tool_opt *so = &shared[s];

		if (strcmp(so->name, o->name) == 0 &&
		    (so->shortname != o->shortname || so->arg != o->arg))
			bad_table(t, i, "a shared option: use its TOOL_OPT_*");
		if (strcmp(so->name, o->name) != 0 && so->shortname &&
		    so->shortname == o->shortname)
			bad_table(t, i, "letter of a shared option");
	}
}

static void print_help(const struct tool *t)
{
	const struct tool_opt *o = t->opts;

	printf("usage: %s %s\n%s\n\noptions:\n", t->name, t->synopsis,
	       t->summary);
	for (int i = 0; i < t->n_opts; i++) {
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

/* getopt_long's tables from the tool's: long options return 1000 + index,
 * short ones their letter.  The leading '-' makes getopt return each
 * operand in place (as 1) instead of permuting argv, which it would stop
 * doing under POSIXLY_CORRECT: options may follow operands either way. */
static void build_getopt(const struct tool *t, struct option *lo,
			 char *shorts)
{
	int n = t->n_opts, k = 0;

	shorts[k++] = '-';
	shorts[k++] = 'h';
	for (int i = 0; i < n; i++) {
		check_entry(t, i);
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
}

/* Index of the option getopt_long returned as c, or a usage error. */
static int which(const struct tool *t, int c, char **argv)
{
	if (c == 'h') {
		print_help(t);
		exit(0);
	}
	if (c == 999) {
		printf("%s %s\n", t->name, CBD_VERSION);
		exit(0);
	}
	if (c >= 1000)
		return c - 1000;
	for (int j = 0; j < t->n_opts; j++)
		if (t->opts[j].shortname == c)
			return j;
	if (optopt && optopt < 256)
		tool_usage_error(t, "unknown option or missing argument '-%c'",
				 optopt);
	tool_usage_error(t, "unknown option or missing argument '%s'",
			 argv[optind - 1]);
}

void tool_parse(struct tool *t, int argc, char **argv)
{
	struct option lo[TOOL_MAX_OPTS + 3];
	char shorts[3 * TOOL_MAX_OPTS + 4];
	int nops = 0, c, idx;

	if (t->n_opts < 0 || t->n_opts > TOOL_MAX_OPTS)
		abort(); /* programmer error: table too long */
	if (argc < 1)
		tool_usage_error(t, "no program name in the argument vector");
	build_getopt(t, lo, shorts);
	memset(t->count, 0, sizeof(t->count));
	opterr = 0;
	/* Operands are gathered in order into argv[1..]: each one's slot, or
	 * an earlier one, has been read already, and in this mode getopt
	 * never moves or rereads argv's slots. */
	while ((c = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
		int i;

		if (c == 1) {
			argv[1 + nops++] = optarg;
			continue;
		}
		i = which(t, c, argv);
		if (t->count[i] > 0 && !t->opts[i].repeatable)
			tool_usage_error(t, "option --%s given twice",
					 t->opts[i].name);
		if (t->count[i] >= TOOL_MAX_REPEAT)
			tool_usage_error(t, "option --%s given too often",
					 t->opts[i].name);
		t->vals[i][t->count[i]++] = optarg;
	}
	while (optind < argc) /* after "--" */
		argv[1 + nops++] = argv[optind++];
	argv[1 + nops] = NULL;
	t->argc = nops;
	t->argv = argv + 1;
}

static int valid(const struct tool *t, int opt)
{
	if (opt < 0 || opt >= t->n_opts)
		abort(); /* programmer error: not a value of the tool's enum */
	return opt;
}

bool tool_has(const struct tool *t, int opt)
{
	return t->count[valid(t, opt)] > 0;
}

const char *tool_get(const struct tool *t, int opt, const char *def)
{
	int i = valid(t, opt);

	return t->count[i] ? t->vals[i][t->count[i] - 1] : def;
}

int tool_get_all(const struct tool *t, int opt, const char *const **vals)
{
	int i = valid(t, opt);

	*vals = t->vals[i];
	return t->count[i];
}

long tool_get_long(const struct tool *t, int opt, long def, long min,
		   long max)
{
	const char *s = tool_get(t, opt, NULL);
	char *end;
	long v;

	if (!s)
		return def;
	v = strtol(s, &end, 10);
	if (*s == 0 || *end != 0 || v < min || v > max)
		tool_usage_error(t, "--%s wants a whole number from %ld to %ld, "
				 "not '%s'", t->opts[opt].name, min, max, s);
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

void tool_parse_n(struct tool *t, int argc, char **argv, int n,
		  const char *why)
{
	tool_parse(t, argc, argv);
	if (t->argc != n)
		tool_usage_error(t, "%s", why);
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
