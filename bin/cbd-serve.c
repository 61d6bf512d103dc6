/*
 * cbd-serve — serve a cbd archive or a bare ONNX model over HTTP with the
 * Open Inference Protocol (KServe v2 REST).
 *
 * Thin front-end: options -> cbd_serve_opts -> cbd_server_start(); the
 * main thread then waits in sigwait() for SIGINT/SIGTERM (blocked in every
 * thread, so the server threads never see them) and shuts down cleanly.
 * The access log goes to stderr, one line per request.
 */
#include "tool.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	OPT_HOST,
	OPT_PORT,
	OPT_PORT_FILE,
	OPT_MODEL_NAME,
	OPT_THREADS,
	OPT_MAX_BODY,
	OPT_MAX_BATCH,
	OPT_MAX_CONNECTIONS,
	OPT_TIMEOUT,
	OPT_QUIET,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_HOST] = {"host", 0, TOOL_ARG, "ADDR",
		"IPv4 address to bind (127.0.0.1)", false},
	[OPT_PORT] = {"port", 'p', TOOL_ARG, "N",
		"TCP port, 0 picks a free one (8000)", false},
	[OPT_PORT_FILE] = {"port-file", 0, TOOL_ARG, "FILE",
		"write the port number to FILE", false},
	[OPT_MODEL_NAME] = {"model-name", 'n', TOOL_ARG, "NAME",
		"name in URLs (default: the model's own)", false},
	[OPT_THREADS] = TOOL_OPT_THREADS("worker threads, one model copy each "
		"(2)"),
	[OPT_MAX_BODY] = {"max-body", 0, TOOL_ARG, "BYTES",
		"largest request body (67108864)", false},
	[OPT_MAX_BATCH] = {"max-batch", 0, TOOL_ARG, "N",
		"largest batch per request (1024)", false},
	[OPT_MAX_CONNECTIONS] = {"max-connections", 0, TOOL_ARG, "N",
		"concurrent connections (64)", false},
	[OPT_TIMEOUT] = {"timeout", 0, TOOL_ARG, "SECONDS",
		"idle connection timeout (30)", false},
	[OPT_QUIET] = TOOL_OPT_QUIET("no access log"),
};
TOOL_OPTS_CHECK(opts, OPT_N);

static void log_line(void *ud, const char *line)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	(void)ud;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "cbd-serve: %s %s\n", when, line);
}

static int write_port_file(const char *path, int port)
{
	char buf[16];
	cbd_err e = {0};
	int n = snprintf(buf, sizeof(buf), "%d\n", port);

	return cbd_file_write_atomic(path, buf, (size_t)n, 0644, &e) ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct tool t = {.name = "cbd-serve",
			 .synopsis = "[options] MODEL",
			 .summary = "Serve a cbd archive or ONNX model with the "
				    "Open Inference Protocol over HTTP.",
			 .opts = opts,
			 .n_opts = OPT_N};
	cbd_serve_opts so = {0};
	cbd_server *srv;
	cbd_err e = {0};
	sigset_t set;
	int sig;

	tool_parse_n(&t, argc, argv, 1, "want one MODEL (archive or .onnx)");
	so.model_path = t.argv[0];
	so.model_name = tool_get(&t, OPT_MODEL_NAME, NULL);
	so.host = tool_get(&t, OPT_HOST, "127.0.0.1");
	so.port = (int)tool_get_long(&t, OPT_PORT, 8000, 0, 65535);
	so.threads = (int)tool_get_long(&t, OPT_THREADS, 2, 1, 256);
	so.max_body = (size_t)tool_get_long(&t, OPT_MAX_BODY, 64L << 20, 1024,
					    1L << 30);
	so.max_batch = tool_get_long(&t, OPT_MAX_BATCH, 1024, 1, 1 << 20);
	so.max_connections = (unsigned)tool_get_long(&t, OPT_MAX_CONNECTIONS,
						     64, 1, 10000);
	so.timeout_s = (unsigned)tool_get_long(&t, OPT_TIMEOUT, 30, 1, 86400);
	if (!tool_has(&t, OPT_QUIET))
		so.log = log_line;
	if (so.model_name && (!so.model_name[0] ||
			      strpbrk(so.model_name, "/?#%")))
		tool_usage_error(&t, "--model-name must be non-empty without "
				 "'/', '?', '#' or '%%'");

	/* Block the signals before threads start so only sigwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cbd_server_start(&so, &srv, &e))
		return tool_fail(&t, &e);
	fprintf(stderr, "cbd-serve: listening on http://%s:%d\n", so.host,
		cbd_server_port(srv));
	if (tool_has(&t, OPT_PORT_FILE) &&
	    write_port_file(tool_get(&t, OPT_PORT_FILE, NULL),
			    cbd_server_port(srv))) {
		tool_error(&t, "cannot write the port file (%s)",
			   tool_get(&t, OPT_PORT_FILE, NULL));
		cbd_server_stop(srv);
		return EX_CANTCREAT;
	}
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "cbd-serve: %s, shutting down\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM");
	cbd_server_stop(srv);
	return 0;
}
