/*
 * tool.h — what every cbd-* front-end shares: one option table that drives
 * both parsing and --help, the options every tool spells the same, and the
 * error/exit conventions.
 *
 * A tool names its options with an enum ending in OPT_N, fills its table
 * with designated initialisers, and looks options up by enum value:
 *
 *	enum { OPT_MODE, OPT_KEY, OPT_N };
 *	static const struct tool_opt opts[] = {
 *		[OPT_MODE] = {"mode", 'm', TOOL_ARG, "MODE", "...", false},
 *		[OPT_KEY] = TOOL_OPT_KEY("the owner's private key"),
 *	};
 *	TOOL_OPTS_CHECK(opts, OPT_N);
 *	static struct tool T = {..., .opts = opts, .n_opts = OPT_N};
 *	... tool_parse(&T, argc, argv); if (tool_has(&T, OPT_KEY)) ...
 *
 * so a misspelt option is a compile error, not an abort at run time.
 * TOOL_OPTS_CHECK fails the build when the table is shorter or longer than
 * the enum, -Woverride-init (in -Wextra) when two entries claim one index,
 * and tool_parse() aborts on a hole (an index no entry fills).
 *
 * Options more than one tool has are defined here once (TOOL_OPT_*: name,
 * short letter, argument; the tool gives the help line), so a letter means
 * one thing in the whole suite:
 *
 *	-k, --key KEY             a key to sign with or verify against
 *	-K, --keyring FILE        the owner's keyring of users
 *	-j, --threads N           worker threads (make's -j)
 *	-o, --output FILE         what the tool writes ('-' = stdout)
 *	-q, --quiet               say less on stderr
 *	    --json                machine-readable output on stdout
 *	    --passphrase-file FILE  passphrase of an encrypted private key
 *
 * No tool uses -k, -K, -j, -o or -q for anything else; tool_parse() aborts
 * on a table that does (tests/cli/options.bats checks --help as well).
 *
 * Options may follow operands ("cbd-serve MODEL --port 0"), also under
 * POSIXLY_CORRECT; "--" ends the options.  Repeating an option that is not
 * marked repeatable is a usage error (minisign's opt_seen).  -h/--help and
 * --version are added here.
 */
#ifndef CBD_TOOL_H
#define CBD_TOOL_H

#include "cbd.h"

#include <stdbool.h>
#include <stdio.h>
#include <sysexits.h>

enum tool_arg { TOOL_NOARG = 0, TOOL_ARG = 1 };

struct tool_opt {
	const char *name;      /* long name without "--" */
	char shortname;        /* 0 when none */
	enum tool_arg arg;
	const char *argname;   /* "FILE", "N", ... shown in --help */
	const char *help;
	bool repeatable;       /* may be given more than once */
};

/* The options several tools share (see the table above); help is the
 * tool's own help line. */
#define TOOL_OPT_KEY(help) {"key", 'k', TOOL_ARG, "KEY", help, false}
#define TOOL_OPT_KEYRING(help) {"keyring", 'K', TOOL_ARG, "FILE", help, false}
#define TOOL_OPT_THREADS(help) {"threads", 'j', TOOL_ARG, "N", help, false}
#define TOOL_OPT_OUTPUT(help) {"output", 'o', TOOL_ARG, "FILE", help, false}
#define TOOL_OPT_QUIET(help) {"quiet", 'q', TOOL_NOARG, NULL, help, false}
#define TOOL_OPT_JSON(help) {"json", 0, TOOL_NOARG, NULL, help, false}
#define TOOL_OPT_PASSPHRASE_FILE(help) \
	{"passphrase-file", 0, TOOL_ARG, "FILE", help, false}

/* After a tool's table: exactly one entry per value of its enum. */
#define TOOL_OPTS_CHECK(tab, n)                                           \
	_Static_assert(sizeof(tab) / sizeof((tab)[0]) == (n),             \
		       #tab ": one entry per option of the enum, no more")

#define TOOL_MAX_OPTS 48
#define TOOL_MAX_REPEAT 64

struct tool {
	const char *name;          /* "cbd-run" */
	const char *synopsis;      /* "[options] MODEL INPUT..." */
	const char *summary;       /* one line */
	const struct tool_opt *opts; /* indexed by the tool's option enum */
	int n_opts;                  /* its OPT_N */
	/* parse results, indexed like opts */
	int count[TOOL_MAX_OPTS];
	const char *vals[TOOL_MAX_OPTS][TOOL_MAX_REPEAT];
	int argc;                  /* positional arguments */
	char **argv;
};

/* Parse argv; handles --help/--version (exits 0) and usage errors (exits
 * EX_USAGE with "try '<tool> --help'").  The operands, in their order, are
 * t->argv[0 .. t->argc).  Aborts on a malformed table (programmer error). */
void tool_parse(struct tool *t, int argc, char **argv);
/* tool_parse for a tool that takes exactly n operands: any other count is
 * the usage error why. */
void tool_parse_n(struct tool *t, int argc, char **argv, int n,
		  const char *why);

/* Was option opt (a value of the tool's enum) given?  Its (last) value,
 * or def. */
bool tool_has(const struct tool *t, int opt);
const char *tool_get(const struct tool *t, int opt, const char *def);
/* All values of a repeatable option; returns the count. */
int tool_get_all(const struct tool *t, int opt, const char *const **vals);
/* Integer option in [min,max]; usage error otherwise. */
long tool_get_long(const struct tool *t, int opt, long def, long min,
		   long max);

/* "cbd-x: error: <msg>" on stderr. */
void tool_error(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Usage error: message + "try '<tool> --help'", exit EX_USAGE. */
void tool_usage_error(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Print err's detail as a tool error and return the exit code for it. */
int tool_fail(const struct tool *t, const cbd_err *err);
/* Warning on stderr. */
void tool_warn(const struct tool *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* SOURCE_DATE_EPOCH (reproducible builds) into *out: false when unset,
 * a usage error (exit 64) when it is not a Unix time. */
bool tool_source_date(const struct tool *t, int64_t *out);
/* The time to record in a file: SOURCE_DATE_EPOCH, else the clock. */
int64_t tool_time(const struct tool *t);

#endif
