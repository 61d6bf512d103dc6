/*
 * tool_key.c — passphrases and key loading for the cbd-* front-ends.
 *
 * The library never talks to a terminal; this is where a tool does.  A
 * prompt goes to /dev/tty with echo switched off (termios), and only when
 * stdin is a terminal, so scripts and tests never hang on a prompt: they
 * pass --passphrase-file instead.  Passphrase buffers are wiped with
 * explicit_bzero before they are freed.
 */
#include "tool_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASS_MAX 1024

void tool_passphrase_free(char *p)
{
	if (!p)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static char *first_line(char *buf)
{
	buf[strcspn(buf, "\r\n")] = 0;
	return buf;
}

static int pass_from_file(const struct tool *t, const char *file, char **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	cbd_err e = {0};

	if (cbd_file_read(file, PASS_MAX, &buf, &len, &e) != CBD_OK) {
		tool_error(t, "cannot read passphrase file (%s): %s", file,
			   e.msg);
		return cbd_status_exit(e.code);
	}
	first_line((char *)buf);
	explicit_bzero(buf + strlen((char *)buf), len - strlen((char *)buf));
	if (!buf[0]) {
		explicit_bzero(buf, len);
		free(buf);
		tool_error(t, "empty passphrase (%s)", file);
		return EX_DATAERR;
	}
	*out = (char *)buf;
	return 0;
}

/* One line from the terminal without echo; NULL if there is none. */
static char *ask(const char *prompt)
{
	struct termios old, quiet;
	char buf[PASS_MAX];
	ssize_t n = 0;
	char *p = NULL;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return NULL;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	(void)!write(fd, prompt, strlen(prompt));
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0) {
		do {
			n = read(fd, buf, sizeof(buf) - 1);
		} while (n < 0 && errno == EINTR);
		(void)tcsetattr(fd, TCSAFLUSH, &old);
	}
	(void)!write(fd, "\n", 1);
	close(fd);
	if (n > 0) {
		buf[n] = 0;
		p = strdup(first_line(buf));
	}
	explicit_bzero(buf, sizeof(buf));
	return p;
}

int tool_passphrase(const struct tool *t, const char *file, int want_ask,
		    int confirm, char **out)
{
	char *again;

	*out = NULL;
	if (file)
		return pass_from_file(t, file, out);
	if (!want_ask)
		return 0;
	if (!isatty(STDIN_FILENO)) {
		tool_error(t, "no terminal to ask for a passphrase; use "
			   "--passphrase-file");
		return EX_USAGE;
	}
	*out = ask("passphrase: ");
	if (!*out || !**out) {
		tool_passphrase_free(*out);
		*out = NULL;
		tool_error(t, "empty passphrase");
		return EX_DATAERR;
	}
	if (!confirm)
		return 0;
	again = ask("passphrase (again): ");
	if (!again || strcmp(again, *out) != 0) {
		tool_passphrase_free(again);
		tool_passphrase_free(*out);
		*out = NULL;
		tool_error(t, "passphrases do not match");
		return EX_DATAERR;
	}
	tool_passphrase_free(again);
	return 0;
}

int tool_load_key(const struct tool *t, const char *path,
		  const char *passfile, enum tool_key_want want,
		  cbd_key **out)
{
	char *pass = NULL;
	cbd_err e = {0};
	cbd_status s;
	int rc;

	*out = NULL;
	rc = tool_passphrase(t, passfile, 0, 0, &pass);
	if (rc)
		return rc;
	s = cbd_key_load(path, pass, out, &e);
	if (s == CBD_E_PASSPHRASE && !pass && isatty(STDIN_FILENO)) {
		pass = ask("passphrase: ");
		if (pass)
			s = cbd_key_load(path, pass, out, &e);
	}
	tool_passphrase_free(pass);
	if (s != CBD_OK) {
		if (s == CBD_E_PASSPHRASE && !passfile &&
		    strstr(e.msg, "no passphrase"))
			tool_error(t, "%s; use --passphrase-file", e.msg);
		else
			tool_fail(t, &e);
		return cbd_status_exit(s);
	}
	if (want == TOOL_KEY_PRIVATE && !cbd_key_is_private(*out)) {
		tool_error(t, "%s is a public key; a private key is needed "
			   "here", path);
		cbd_key_free(*out);
		*out = NULL;
		return EX_DATAERR;
	}
	if (want == TOOL_KEY_PUBLIC && cbd_key_is_private(*out)) {
		cbd_key *pub = NULL;

		s = cbd_key_public_copy(*out, &pub, &e);
		cbd_key_free(*out);
		*out = pub;
		if (s != CBD_OK)
			return tool_fail(t, &e);
	}
	return 0;
}
