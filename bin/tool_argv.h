/*
 * tool_argv.h — let options follow operands ("cbd-embed model.onnx --mode
 * trace"), as the GNU tools do.  (tool_parse() has since switched to GNU
 * getopt permutation as well, so this is now belt and braces: it also
 * keeps working under POSIXLY_CORRECT.)
 *
 * tool_permute() returns a copy of argv with every option (and its
 * argument, as the option table says) moved in front of the operands,
 * which follow a "--".  Everything after an explicit "--" stays an
 * operand.  Call it just before tool_parse().
 */
#ifndef CBD_TOOL_ARGV_H
#define CBD_TOOL_ARGV_H

#include "tool.h"

/* New argv (static lifetime, NULL-terminated); *argc is updated. */
char **tool_permute(const struct tool *t, int *argc, char **argv);

#endif
