/*
 * serve.c — cbd-serve's HTTP server: the Open Inference Protocol (KServe
 * v2 REST) over libmicrohttpd.
 *
 * Routes (protocol "HTTP/REST" table; one trailing '/' is ignored):
 *   GET  /v2                                    server metadata
 *   GET  /v2/health/live, /v2/health/ready      {"live"|"ready": true}
 *   GET  /v2/models/M[/versions/V]              model metadata
 *   GET  /v2/models/M[/versions/V]/ready        {"name": M, "ready": true}
 *   POST /v2/models/M[/versions/V]/infer        inference (infer.c), JSON
 *        or Triton's binary tensor data (Inference-Header-Content-Length)
 * GET routes also take HEAD.  Errors are {"error": "..."} with 400 (bad
 * request), 404 (unknown model, version or path), 405 (a method the
 * resource does not take; Allow lists the ones it does), 413 (body or
 * tensor too large, or past the compute limit).
 *
 * MHD runs a pool of `threads` polling threads; each request is handled
 * in one of them.  cbd_model_run is not thread-safe per model, so the
 * server opens one model per thread and binds each to the worker thread
 * that first needs one (thread-local), so a model is only ever run by one
 * thread; should there be more threads than models, the unbound ones
 * wait for a free model under a mutex.  The body is collected in a
 * per-request buffer capped at max_body.  A Content-Length over the cap
 * is answered 413 before the body is read.  A chunked body has no length
 * up front and MHD only takes a response before the body or after all of
 * it, so past the cap the rest is read and dropped (at most
 * SERVE_DISCARD_FACTOR times the cap, then the connection is closed) and
 * the 413 is sent once the body ends.
 * The access log line is written when MHD reports the request complete.
 */
#include "serve_internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

/* A chunked body over max_body is read and dropped up to this many times
 * max_body before the connection is closed without an answer. */
#define SERVE_DISCARD_FACTOR 4

struct cbd_server {
	struct MHD_Daemon *d;
	serve_spec spec;
	char *name;
	cbd_model **models;
	int *busy;
	int *bound;          /* model i belongs to a worker thread */
	int n_models;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_mutex_t log_mu;
	size_t max_body;
	int port;
	void (*log)(void *ud, const char *line);
	void *log_ud;
};

/* Per-request state (MHD's con_cls). */
struct req {
	struct timespec t0;
	cbd_buf body;
	int too_big;
	size_t dropped;      /* bytes of a too-big chunked body dropped */
	int status;
	const char *allow;   /* methods of the resource, for a 405 */
	size_t sent;
	char method[16];
	char path[128];
};

static double since_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Send b; json_len != SERVE_NO_HEADER marks a binary answer (JSON header
 * of that length, then tensor data). */
static enum MHD_Result reply_ex(struct MHD_Connection *c, struct req *r,
				int status, cbd_buf *b, size_t json_len)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	if (b->st) {
		cbd_buf_reset(b);
		b->st = CBD_OK;
		cbd_buf_puts(b, "{\"error\":\"out of memory\"}");
		status = 500;
		json_len = SERVE_NO_HEADER;
	}
	resp = MHD_create_response_from_buffer(b->len, b->p ? b->p : "",
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (json_len != SERVE_NO_HEADER) {
		char n[24];

		snprintf(n, sizeof(n), "%zu", json_len);
		MHD_add_response_header(resp, "Content-Type",
					"application/octet-stream");
		MHD_add_response_header(resp, "Inference-Header-Content-Length",
					n);
	} else {
		MHD_add_response_header(resp, "Content-Type",
					"application/json");
	}
	if (status == 405 && r->allow)
		MHD_add_response_header(resp, "Allow", r->allow);
	r->status = status;
	r->sent = b->len;
	ok = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static enum MHD_Result reply(struct MHD_Connection *c, struct req *r,
			     int status, cbd_buf *b)
{
	return reply_ex(c, r, status, b, SERVE_NO_HEADER);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, struct req *r,
				   int status, const char *msg)
{
	cbd_buf b = {0};
	enum MHD_Result ok;

	cbd_buf_puts(&b, "{\"error\":");
	cbd_buf_json_str(&b, msg);
	cbd_buf_puts(&b, "}");
	ok = reply(c, r, status, &b);
	cbd_buf_free(&b);
	return ok;
}

/* The model bound to this worker thread (one model per worker: a model
 * is only ever run by the thread that first ran it). */
static _Thread_local cbd_server *tl_server;
static _Thread_local int tl_slot = -1;

static cbd_model *acquire(cbd_server *s, int *slot)
{
	if (tl_server == s && tl_slot >= 0) {
		*slot = -1;
		return s->models[tl_slot];
	}
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n_models; i++) {
		if (!s->bound[i]) {
			s->bound[i] = 1;
			tl_server = s;
			tl_slot = i;
			*slot = -1;
			pthread_mutex_unlock(&s->mu);
			return s->models[i];
		}
	}
	for (;;) {
		for (int i = 0; i < s->n_models; i++) {
			if (!s->busy[i]) {
				s->busy[i] = 1;
				*slot = i;
				pthread_mutex_unlock(&s->mu);
				return s->models[i];
			}
		}
		pthread_cond_wait(&s->cv, &s->mu);
	}
}

static void release(cbd_server *s, int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&s->mu);
	s->busy[slot] = 0;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* The Inference-Header-Content-Length header: SERVE_NO_HEADER if absent,
 * else its decimal value; -1 if malformed. */
static int header_len(struct MHD_Connection *c, size_t *out)
{
	const char *v = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, "Inference-Header-Content-Length");
	size_t n = 0;

	*out = SERVE_NO_HEADER;
	if (!v)
		return 0;
	if (!*v || strlen(v) > 15)
		return -1;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (size_t)(*p - '0');
	}
	*out = n;
	return 0;
}

static enum MHD_Result do_infer(cbd_server *s, struct MHD_Connection *c,
				struct req *r)
{
	char msg[256];
	serve_req rq = {0};
	cbd_tensor *batch = NULL, *scores = NULL;
	cbd_buf out = {0};
	cbd_err e = {0};
	cbd_status st;
	enum MHD_Result ok;
	size_t hlen, jlen;
	int slot, rc;

	if (header_len(c, &hlen))
		return reply_error(c, r, 400, "Inference-Header-Content-Length "
				   "is not a decimal byte count");
	rc = serve_parse_infer(&s->spec, r->body.p ? r->body.p : "",
			       r->body.len, hlen, &batch, &rq, msg,
			       sizeof(msg));
	if (rc != 200)
		return reply_error(c, r, rc, msg);
	st = cbd_model_run(acquire(s, &slot), batch, &scores, NULL, &e);
	release(s, slot);
	cbd_tensor_free(batch);
	if (st) {
		free(rq.id);
		/* a batch past the compute or size limits is the client's
		 * to make smaller */
		rc = st == CBD_E_SHAPE ? 400 : st == CBD_E_TOOBIG ? 413 : 500;
		return reply_error(c, r, rc,
				   e.msg[0] ? e.msg : cbd_strerror(st));
	}
	serve_write_infer(&s->spec, &rq, scores, &out, &jlen);
	ok = reply_ex(c, r, 200, &out, jlen);
	cbd_buf_free(&out);
	cbd_tensor_free(scores);
	free(rq.id);
	return ok;
}

/* Split /v2/models/M[/versions/V][/tail]: returns 0 if not that shape. */
static int model_path(const char *url, char *name, size_t nsz, char *ver,
		      size_t vsz, const char **tail)
{
	const char *p = url + strlen("/v2/models/"), *q;
	size_t n;

	q = strchr(p, '/');
	n = q ? (size_t)(q - p) : strlen(p);
	if (n == 0 || n >= nsz)
		return 0;
	memcpy(name, p, n);
	name[n] = 0;
	ver[0] = 0;
	p += n;
	if (strncmp(p, "/versions/", 10) == 0) {
		p += 10;
		q = strchr(p, '/');
		n = q ? (size_t)(q - p) : strlen(p);
		if (n == 0 || n >= vsz)
			return 0;
		memcpy(ver, p, n);
		ver[n] = 0;
		p += n;
	}
	*tail = p;
	return 1;
}

static const char ALLOW_GET[] = "GET, HEAD";
static const char ALLOW_POST[] = "POST";

/* Does the resource taking `allow` take this method?  Else 405, with the
 * resource's methods in Allow. */
static int method_ok(struct req *r, const char *allow)
{
	int get = strcmp(r->method, "GET") == 0 ||
		  strcmp(r->method, "HEAD") == 0;
	int post = strcmp(r->method, "POST") == 0;

	r->allow = allow;
	return allow == ALLOW_POST ? post : get;
}

static enum MHD_Result wrong_method(struct MHD_Connection *c,
				    struct req *r)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "method %s not allowed here (use %s)",
		 r->method, r->allow == ALLOW_POST ? "POST" : "GET");
	return reply_error(c, r, 405, msg);
}

static enum MHD_Result route(cbd_server *s, struct MHD_Connection *c,
			     struct req *r, const char *full_url)
{
	char url[512], name[256], ver[64], msg[400];
	const char *tail;
	cbd_buf b = {0};
	enum MHD_Result ok;
	size_t n = strlen(full_url);

	if (n >= sizeof(url))
		return reply_error(c, r, 404, "no such endpoint");
	memcpy(url, full_url, n + 1);
	if (n > 1 && url[n - 1] == '/')
		url[n - 1] = 0;       /* .../infer/ is .../infer */
	if (strcmp(url, "/v2") == 0 || strcmp(url, "/v2/health/live") == 0 ||
	    strcmp(url, "/v2/health/ready") == 0) {
		if (!method_ok(r, ALLOW_GET))
			return wrong_method(c, r);
		if (url[3] == 0)
			cbd_buf_puts(&b, "{\"name\":\"cbd-serve\",\"version\":\""
				     CBD_VERSION "\",\"extensions\":"
				     SERVE_EXTENSIONS "}");
		else if (strcmp(url + 11, "live") == 0)
			cbd_buf_puts(&b, "{\"live\":true}");
		else
			cbd_buf_puts(&b, "{\"ready\":true}");
		goto send;
	}
	if (strncmp(url, "/v2/models/", 11) != 0 ||
	    !model_path(url, name, sizeof(name), ver, sizeof(ver), &tail))
		return reply_error(c, r, 404, "no such endpoint");
	if (strcmp(name, s->spec.model_name) != 0) {
		snprintf(msg, sizeof(msg), "unknown model '%.200s'", name);
		return reply_error(c, r, 404, msg);
	}
	if (ver[0] && strcmp(ver, CBD_SERVE_VERSION) != 0) {
		snprintf(msg, sizeof(msg), "unknown version '%s' of model "
			 "'%.200s' (have '" CBD_SERVE_VERSION "')", ver, name);
		return reply_error(c, r, 404, msg);
	}
	if (strcmp(tail, "/infer") == 0)
		return method_ok(r, ALLOW_POST) ? do_infer(s, c, r)
						: wrong_method(c, r);
	if (tail[0] != 0 && strcmp(tail, "/ready") != 0)
		return reply_error(c, r, 404, "no such endpoint");
	if (!method_ok(r, ALLOW_GET))
		return wrong_method(c, r);
	if (tail[0] == 0) {
		serve_write_metadata(&s->spec, &b);
	} else {
		cbd_buf_puts(&b, "{\"name\":");
		cbd_buf_json_str(&b, s->spec.model_name);
		cbd_buf_puts(&b, ",\"ready\":true}");
	}
send:
	ok = reply(c, r, 200, &b);
	cbd_buf_free(&b);
	return ok;
}

/* Collect one piece of the body; past max_body drop it (see the top). */
static enum MHD_Result take_upload(cbd_server *s, struct req *r,
				   const char *upload, size_t *upload_size)
{
	size_t n = *upload_size;

	*upload_size = 0;
	if (!r->too_big && r->body.len + n > s->max_body) {
		r->too_big = 1;
		cbd_buf_free(&r->body);
	}
	if (!r->too_big) {
		cbd_buf_add(&r->body, upload, n);
		return MHD_YES;
	}
	r->dropped += n;
	return r->dropped / SERVE_DISCARD_FACTOR > s->max_body ? MHD_NO
							       : MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	cbd_server *s = cls;
	struct req *r = *con_cls;

	(void)version;
	if (!r) {
		const char *cl;

		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		clock_gettime(CLOCK_MONOTONIC, &r->t0);
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->path, sizeof(r->path), "%s", url);
		*con_cls = r;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > s->max_body)
			r->too_big = 1;
		if (!r->too_big)
			return MHD_YES;
	}
	if (*upload_size)
		return take_upload(s, r, upload, upload_size);
	if (r->status)
		return MHD_YES;      /* already answered (too big) */
	if (r->too_big) {
		char msg[128];

		snprintf(msg, sizeof(msg), "request body larger than %zu "
			 "bytes", s->max_body);
		return reply_error(c, r, 413, msg);
	}
	if (r->body.st)
		return reply_error(c, r, 500, "out of memory");
	return route(s, c, r, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	cbd_server *s = cls;
	struct req *r = *con_cls;

	(void)c;
	if (!r)
		return;
	if (s->log) {
		char line[320];

		snprintf(line, sizeof(line), "%s %s %d %zu %.3fms%s",
			 r->method, r->path, r->status, r->sent,
			 since_ms(&r->t0),
			 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
								    : " aborted");
		pthread_mutex_lock(&s->log_mu);
		s->log(s->log_ud, line);
		pthread_mutex_unlock(&s->log_mu);
	}
	cbd_buf_free(&r->body);
	free(r);
	*con_cls = NULL;
}

static cbd_status fill_spec(cbd_server *s, const cbd_serve_opts *o,
			    cbd_err *err)
{
	const cbd_model *m = s->models[0];
	const cbd_nn_io *in = cbd_model_input(m);
	serve_spec *sp = &s->spec;
	size_t n = 1;

	s->name = strdup(o->model_name ? o->model_name : cbd_model_name(m));
	if (!s->name)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	sp->model_name = s->name;
	sp->input_name = in->name;
	sp->output_name = cbd_model_output(m)->name;
	sp->batch_dim = in->dims[0];   /* advertised; any N is answered */
	sp->sample_ndim = in->ndim - 1;
	for (int i = 1; i < in->ndim; i++) {
		if (in->dims[i] < 1)
			return cbd_err_set(err, CBD_E_UNSUPPORTED,
					   "model input '%s' has a dynamic "
					   "dimension %d (%s)", in->name, i,
					   o->model_path);
		sp->sample_dims[i - 1] = in->dims[i];
		n *= (size_t)in->dims[i];
	}
	sp->sample_elems = n;
	sp->num_classes = cbd_model_num_classes(m);
	sp->max_batch = o->max_batch > 0 ? o->max_batch : 1024;
	sp->model = m;   /* every model of the pool is the same file */
	return CBD_OK;
}

static cbd_status open_models(cbd_server *s, const cbd_serve_opts *o,
			      int n, cbd_err *err)
{
	s->models = calloc((size_t)n, sizeof(*s->models));
	s->busy = calloc((size_t)n, sizeof(*s->busy));
	s->bound = calloc((size_t)n, sizeof(*s->bound));
	if (!s->models || !s->busy || !s->bound)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		cbd_status st = cbd_model_open(o->model_path, o->nn,
					       &s->models[i], err);

		if (st)
			return st;
		s->n_models++;
	}
	return CBD_OK;
}

cbd_status cbd_server_start(const cbd_serve_opts *o, cbd_server **out,
			    cbd_err *err)
{
	cbd_server *s = calloc(1, sizeof(*s));
	int threads = o->threads > 0 ? o->threads : 2;
	struct sockaddr_in sa = {0};
	const union MHD_DaemonInfo *info;
	cbd_status st;

	*out = NULL;
	if (!s)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->log_mu, NULL);
	s->max_body = o->max_body ? o->max_body : (size_t)64 << 20;
	s->log = o->log;
	s->log_ud = o->log_ud;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	if (inet_pton(AF_INET, o->host ? o->host : "127.0.0.1",
		      &sa.sin_addr) != 1) {
		st = cbd_err_set(err, CBD_E_USAGE, "not an IPv4 address (%s)",
				 o->host);
		goto fail;
	}
	st = open_models(s, o, threads, err);
	if (!st)
		st = fill_spec(s, o, err);
	if (st)
		goto fail;
	s->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL,
		handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
		MHD_OPTION_CONNECTION_LIMIT,
		o->max_connections ? o->max_connections : 64u,
		MHD_OPTION_CONNECTION_TIMEOUT,
		o->timeout_s ? o->timeout_s : 30u,
		MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
	if (!s->d) {
		st = cbd_err_set(err, CBD_E_UNAVAILABLE,
				 "cannot listen on %s:%d (port in use?)",
				 o->host ? o->host : "127.0.0.1", o->port);
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : o->port;
	*out = s;
	return CBD_OK;
fail:
	cbd_server_stop(s);
	return st;
}

int cbd_server_port(const cbd_server *s)
{
	return s->port;
}

void cbd_server_stop(cbd_server *s)
{
	if (!s)
		return;
	if (s->d)
		MHD_stop_daemon(s->d);
	for (int i = 0; i < s->n_models; i++)
		cbd_model_free(s->models[i]);
	free(s->models);
	free(s->busy);
	free(s->bound);
	free(s->name);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->log_mu);
	free(s);
}
