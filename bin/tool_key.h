/*
 * tool_key.h — what the cbd-* front-ends share about keys: reading a
 * passphrase (from --passphrase-file or, on a terminal, a prompt without
 * echo) and loading a key with the right error for each way it can fail.
 *
 * Every function prints its own one-line error and returns the exit code
 * (0 on success), so a tool writes `if ((rc = tool_load_key(...))) return
 * rc;`.
 */
#ifndef CBD_TOOL_KEY_H
#define CBD_TOOL_KEY_H

#include "tool.h"

/* Passphrase from the first line of file (trailing CR/LF removed), or, if
 * file is NULL and ask is set, from the terminal (asked twice when
 * confirm).  *out is NULL when neither applies.  Free with
 * tool_passphrase_free(). */
int tool_passphrase(const struct tool *t, const char *file, int ask,
		    int confirm, char **out);
void tool_passphrase_free(char *p);

enum tool_key_want { TOOL_KEY_ANY, TOOL_KEY_PRIVATE, TOOL_KEY_PUBLIC };

/* Load a PEM key.  An encrypted private key takes its passphrase from
 * passfile, else from a prompt when stdin is a terminal.  want checks the
 * kind: a public key given where a private one is needed is a clear error.
 * TOOL_KEY_PUBLIC accepts a private key too and keeps only its public
 * half. */
int tool_load_key(const struct tool *t, const char *path,
		  const char *passfile, enum tool_key_want want,
		  cbd_key **out);

#endif
