/*
 * tool.h — what every cbd-* front-end shares: one option table that drives
 * both parsing and --help, and the error/exit conventions.
 *
 * A tool declares `static const struct tool_opt opts[]` ending in
 * TOOL_OPT_END, calls tool_parse(), then looks options up by long name.
 * Repeating an option that is not marked repeatable is a usage error
 * (minisign's opt_seen).  -h/--help and --version are added here.
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

#define TOOL_OPT_END { NULL, 0, TOOL_NOARG, NULL, NULL, false }
#define TOOL_MAX_OPTS 48
#define TOOL_MAX_REPEAT 64

struct tool {
	const char *name;          /* "cbd-run" */
	const char *synopsis;      /* "[options] MODEL INPUT..." */
	const char *summary;       /* one line */
	const struct tool_opt *opts;
	/* parse results, indexed like opts */
	int count[TOOL_MAX_OPTS];
	const char *vals[TOOL_MAX_OPTS][TOOL_MAX_REPEAT];
	int argc;                  /* positional arguments */
	char **argv;
};

/* Parse argv; handles --help/--version (exits 0) and usage errors (exits
 * EX_USAGE with "try '<tool> --help'"). */
void tool_parse(struct tool *t, int argc, char **argv);

/* Was option `name` given?  Its (last) value, or def. */
bool tool_has(const struct tool *t, const char *name);
const char *tool_get(const struct tool *t, const char *name,
		     const char *def);
/* All values of a repeatable option; returns the count. */
int tool_get_all(const struct tool *t, const char *name,
		 const char *const **vals);
/* Integer option in [min,max]; usage error otherwise. */
long tool_get_long(const struct tool *t, const char *name, long def,
		   long min, long max);

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
