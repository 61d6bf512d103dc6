/*
 * tool_argv.c — move options in front of operands before tool_parse().
 *
 * Walks argv once with the tool's option table to know which options take
 * an argument: "--name VALUE", "--name=VALUE", "-x VALUE", "-xVALUE" and
 * clusters of flags "-ab" are recognised; "-" alone is an operand; "--"
 * ends the options.  The result is options in their original order, then
 * "--", then the operands in their original order.
 */
#include "tool_argv.h"

#include <stdlib.h>
#include <string.h>

static const struct tool_opt *by_long(const struct tool *t, const char *s)
{
	size_t n = strcspn(s, "=");

	for (int i = 0; t->opts[i].name; i++)
		if (strlen(t->opts[i].name) == n &&
		    strncmp(t->opts[i].name, s, n) == 0)
			return &t->opts[i];
	return NULL;
}

static const struct tool_opt *by_short(const struct tool *t, char c)
{
	for (int i = 0; t->opts[i].name; i++)
		if (t->opts[i].shortname == c)
			return &t->opts[i];
	return NULL;
}

/* How many words (1 or 2) the option starting at argv[i] occupies. */
static int option_words(const struct tool *t, char *const *argv, int i)
{
	const char *a = argv[i];
	const struct tool_opt *o;

	if (a[1] == '-') {
		o = by_long(t, a + 2);
		return o && o->arg && !strchr(a, '=') && argv[i + 1] ? 2 : 1;
	}
	for (const char *p = a + 1; *p; p++) {
		o = by_short(t, *p);
		if (o && o->arg)
			return p[1] == 0 && argv[i + 1] ? 2 : 1;
	}
	return 1;
}

char **tool_permute(const struct tool *t, int *argc, char **argv)
{
	char **out = calloc((size_t)*argc + 2, sizeof(*out));
	char **ops = calloc((size_t)*argc + 1, sizeof(*ops));
	int n = 0, nops = 0, i = 1;

	if (!out || !ops) {
		free(out);
		free(ops);
		return argv;
	}
	out[n++] = argv[0];
	while (i < *argc) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			for (i++; i < *argc; i++)
				ops[nops++] = argv[i];
			break;
		}
		if (a[0] == '-' && a[1] != 0) {
			int w = option_words(t, argv, i);

			for (int k = 0; k < w; k++)
				out[n++] = argv[i + k];
			i += w;
		} else {
			ops[nops++] = argv[i++];
		}
	}
	out[n++] = "--";
	for (int k = 0; k < nops; k++)
		out[n++] = ops[k];
	out[n] = NULL;
	free(ops);
	*argc = n;
	return out;
}
