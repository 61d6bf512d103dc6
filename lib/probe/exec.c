/*
 * exec.c — the exec backend: a local command that answers JSON lines.
 *
 * The command runs under /bin/sh -c with pipes on stdin and stdout (stderr
 * is inherited).  For each query we write one request line (codec.c) and
 * read one answer line, waiting at most timeout_ms.  Queries are
 * sequential.  If the command exits, closes stdout or times out, the
 * attempt fails (retryable) and the command is killed and started again
 * for the next attempt, so one crash does not end the probe.  An answer
 * that cannot be bound to its query (a line that is not a JSON object,
 * no "id" or another query's id) is an error of that query and the
 * command is restarted too: a stray line must not shift every later
 * answer onto the wrong query.
 */
#include "probe_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE ((size_t)16 << 20)

struct child {
	pid_t pid;
	int in, out;         /* our ends: write to in, read from out */
	cbd_buf rbuf;        /* bytes read past the last line */
};

static void child_stop(struct child *c)
{
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	if (c->pid > 0) {
		int st;

		kill(c->pid, SIGTERM);
		waitpid(c->pid, &st, 0);
	}
	c->pid = -1;
	c->in = c->out = -1;
	cbd_buf_reset(&c->rbuf);
}

static int child_start(struct child *c, const char *cmd)
{
	int to[2], from[2];

	if (pipe2(to, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(from, O_CLOEXEC) != 0) {
		close(to[0]);
		close(to[1]);
		return -1;
	}
	c->pid = fork();
	if (c->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c->in = to[1];
	c->out = from[0];
	if (c->pid < 0) {
		child_stop(c);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one line (without LF) into line; "" error text on success. */
static const char *read_line(struct child *c, double deadline,
			     cbd_buf *line)
{
	for (;;) {
		char *nl = c->rbuf.len ? memchr(c->rbuf.p, '\n', c->rbuf.len)
				       : NULL;
		char tmp[65536];
		struct pollfd pf = {.fd = c->out, .events = POLLIN};
		ssize_t r;
		int ms;

		if (nl) {
			size_t n = (size_t)(nl - c->rbuf.p);

			cbd_buf_reset(line);
			cbd_buf_add(line, c->rbuf.p, n);
			memmove(c->rbuf.p, nl + 1, c->rbuf.len - n - 1);
			c->rbuf.len -= n + 1;
			return line->st ? "out of memory" : "";
		}
		if (c->rbuf.len > MAX_LINE)
			return "answer line too long";
		ms = (int)((deadline - probe_now()) * 1e3);
		if (ms <= 0)
			return "timeout";
		if (poll(&pf, 1, ms) < 0 && errno != EINTR)
			return "poll failed";
		if (!(pf.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = read(c->out, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return "command closed its output";
		cbd_buf_add(&c->rbuf, tmp, (size_t)r);
	}
}

/* One query; the outcome goes to probe_finish, or to *out when !finish. */
static void attempt(struct probe *p, struct child *c,
		    struct probe_item *it, cbd_buf *req, cbd_buf *line,
		    int finish, struct probe_outcome *out)
{
	struct probe_outcome oc = {.label = -1, .retry_after_s = -1};
	double t0 = probe_now();
	long tmo = p->o->timeout_ms > 0 ? p->o->timeout_ms : 30000;
	const char *e = "";
	size_t jlen;

	it->attempts++;
	cbd_buf_reset(req);
	probe_request_body(p, it, req, &jlen);
	cbd_sha256(req->p, req->len, oc.request_digest, NULL);
	cbd_buf_add(req, "\n", 1);
	if (c->pid <= 0 && child_start(c, p->o->endpoint) != 0)
		e = "cannot start the command";
	else if (req->st || write_all(c->in, req->p, req->len) != 0)
		e = "cannot write to the command";
	else
		e = read_line(c, t0 + (double)tmo / 1e3, line);
	oc.latency_ms = (probe_now() - t0) * 1e3;
	if (*e) {
		snprintf(oc.error, sizeof(oc.error), "%s", e);
		oc.retryable = 1;
		child_stop(c);
	} else {
		oc.has_response = 1;
		cbd_sha256(line->p ? line->p : "", line->len,
			   oc.response_digest, NULL);
		probe_parse_exec(p, probe_wire_id(it), line->p ? line->p : "",
				 line->len, &oc);
		oc.status = oc.error[0] ? 0 : 200;
		if (oc.desync)
			child_stop(c);
	}
	if (finish)
		probe_finish(p, it, &oc);
	else
		*out = oc;
}

void probe_exec_once(struct probe *p, struct probe_item *it,
		     struct probe_outcome *oc)
{
	struct child c = {.pid = -1, .in = -1, .out = -1};
	cbd_buf req = {0}, line = {0};
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);

	attempt(p, &c, it, &req, &line, 0, oc);
	child_stop(&c);
	cbd_buf_free(&c.rbuf);
	cbd_buf_free(&req);
	cbd_buf_free(&line);
	signal(SIGPIPE, old);
}

cbd_status probe_exec_run(struct probe *p, cbd_err *err)
{
	struct child c = {.pid = -1, .in = -1, .out = -1};
	cbd_buf req = {0}, line = {0};
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);

	(void)err;
	while (p->done < p->n_items && !p->fatal && !p->aborted) {
		double now = probe_now(), wake = now + 1.0;
		struct probe_item *it = probe_next(p, now, &wake);

		if (!it) {
			probe_sleep_until(wake);
			continue;
		}
		if (!probe_rate_ok(p, now, &wake)) {
			probe_sleep_until(wake);
			continue;
		}
		it->state = 1;
		attempt(p, &c, it, &req, &line, 1, NULL);
	}
	child_stop(&c);
	cbd_buf_free(&c.rbuf);
	cbd_buf_free(&req);
	cbd_buf_free(&line);
	signal(SIGPIPE, old);
	return CBD_OK;
}
