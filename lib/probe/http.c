/*
 * http.c — the oip and tfserving backends: HTTP(S) POSTs through the
 * libcurl multi interface.
 *
 * `concurrency` slots each own an easy handle (kept across requests, so
 * connections stay alive in the multi handle's cache).  The loop fills
 * free slots with items that are ready (backoff) and allowed (rate), lets
 * curl run until something finishes or the next item becomes ready, and
 * hands each finished attempt to probe_finish().  With binary tensor data
 * a slot's request carries its own header list (the JSON's length).  TLS peers are verified
 * unless insecure; redirects are never followed by curl: with
 * follow_redirects a 3xx to the same scheme, host and port is re-sent by
 * us (POST stays POST), anything else is recorded as an error.
 */
#include "probe_internal.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <string.h>

#define MAX_RESPONSE ((size_t)16 << 20)
#define MAX_REDIRECTS 5

struct slot {
	CURL *h;
	struct probe_item *it;
	cbd_buf req, resp;
	size_t json_len;     /* of req: PROBE_NO_HEADER unless binary */
	struct curl_slist *hdrs;  /* with binary: this request's headers */
	char *url;           /* current URL (after same-origin redirects) */
	int redirects;
	int too_big;
	double t0;
};

struct http {
	struct probe *p;
	CURLM *m;
	struct slot *slots;
	int n_slots;
	struct curl_slist *hdrs;
	char *url;           /* the endpoint URL for every request */
};

static size_t on_data(char *ptr, size_t sz, size_t nm, void *ud)
{
	struct slot *s = ud;
	size_t n = sz * nm;

	if (s->resp.len + n > MAX_RESPONSE) {
		s->too_big = 1;
		return 0;
	}
	cbd_buf_add(&s->resp, ptr, n);
	return s->resp.st ? 0 : n;
}

void *probe_http_headers(const cbd_probe_opts *o, size_t json_len)
{
	struct curl_slist *h, *t;
	char line[64];

	h = curl_slist_append(NULL, json_len != PROBE_NO_HEADER
				    ? "Content-Type: application/octet-stream"
				    : "Content-Type: application/json");
	t = h ? curl_slist_append(h, "Expect:") : NULL;
	for (int i = 0; t && i < o->n_headers; i++)
		t = curl_slist_append(h, o->headers[i]);
	if (t && json_len != PROBE_NO_HEADER) {
		snprintf(line, sizeof(line),
			 "Inference-Header-Content-Length: %zu", json_len);
		t = curl_slist_append(h, line);
	}
	if (!t) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h;
}

size_t probe_http_header_len(void *curl)
{
	struct curl_header *hh = NULL;
	size_t n = 0;
	const char *v;

	if (curl_easy_header(curl, "Inference-Header-Content-Length", 0,
			     CURLH_HEADER, -1, &hh) != CURLHE_OK || !hh)
		return PROBE_NO_HEADER;
	v = hh->value;
	if (!*v || strlen(v) > 15)
		return PROBE_NO_HEADER;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return PROBE_NO_HEADER;
		n = n * 10 + (size_t)(*v - '0');
	}
	return n;
}

void probe_model_url(const cbd_probe_opts *o, const char *tail, cbd_buf *b)
{
	size_t n = strlen(o->endpoint);
	char *model;

	while (n > 0 && o->endpoint[n - 1] == '/')
		n--;
	cbd_buf_add(b, o->endpoint, n);
	model = curl_easy_escape(NULL, o->model_name ? o->model_name : "", 0);
	cbd_buf_puts(b, o->backend == CBD_PROBE_OIP ? "/v2/models/"
						    : "/v1/models/");
	cbd_buf_puts(b, model ? model : "");
	curl_free(model);
	if (o->model_version && *o->model_version) {
		char *v = curl_easy_escape(NULL, o->model_version, 0);

		cbd_buf_puts(b, "/versions/");
		cbd_buf_puts(b, v ? v : "");
		curl_free(v);
	}
	cbd_buf_puts(b, tail);
}

static cbd_status build_url(struct http *H, cbd_err *err)
{
	const cbd_probe_opts *o = H->p->o;
	cbd_buf b = {0};

	if (!o->model_name || !*o->model_name)
		return cbd_err_set(err, CBD_E_USAGE,
				   "the %s backend needs a model name",
				   o->backend == CBD_PROBE_OIP ? "oip"
							       : "tfserving");
	probe_model_url(o, o->backend == CBD_PROBE_OIP ? "/infer" : ":predict",
			&b);
	if (b.st) {
		cbd_buf_free(&b);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	H->url = b.p;
	return CBD_OK;
}

void probe_http_easy_setup(const cbd_probe_opts *o, void *curl,
			   const void *hdrs)
{
	CURL *h = curl;

	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	if (o->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 o->connect_timeout_ms > 0 ? o->connect_timeout_ms
						   : 10000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			 o->timeout_ms > 0 ? o->timeout_ms : 30000L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "cbd-probe/" CBD_VERSION);
}

static cbd_status setup(struct http *H, cbd_err *err)
{
	const cbd_probe_opts *o = H->p->o;
	cbd_status s;

	H->n_slots = o->concurrency > 0 ? o->concurrency : 1;
	H->slots = calloc((size_t)H->n_slots, sizeof(*H->slots));
	H->m = curl_multi_init();
	if (!H->slots || !H->m)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	curl_multi_setopt(H->m, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)H->n_slots);
	s = build_url(H, err);
	if (s)
		return s;
	H->hdrs = probe_http_headers(o, PROBE_NO_HEADER);
	for (int i = 0; i < H->n_slots; i++) {
		CURL *h = curl_easy_init();

		if (!h || !H->hdrs)
			return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		H->slots[i].h = h;
		probe_http_easy_setup(o, h, H->hdrs);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &H->slots[i]);
	}
	return CBD_OK;
}

static void teardown(struct http *H)
{
	for (int i = 0; H->slots && i < H->n_slots; i++) {
		struct slot *s = &H->slots[i];

		if (s->h) {
			if (s->it)
				curl_multi_remove_handle(H->m, s->h);
			curl_easy_cleanup(s->h);
		}
		cbd_buf_free(&s->req);
		cbd_buf_free(&s->resp);
		curl_slist_free_all(s->hdrs);
		free(s->url);
	}
	free(H->slots);
	if (H->m)
		curl_multi_cleanup(H->m);
	curl_slist_free_all(H->hdrs);
	free(H->url);
}

static int start(struct http *H, struct slot *s)
{
	curl_easy_setopt(s->h, CURLOPT_URL, s->url ? s->url : H->url);
	curl_easy_setopt(s->h, CURLOPT_HTTPHEADER,
			 s->hdrs ? s->hdrs : H->hdrs);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->req.p);
	curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)s->req.len);
	cbd_buf_reset(&s->resp);
	s->too_big = 0;
	s->t0 = probe_now();
	return curl_multi_add_handle(H->m, s->h) == CURLM_OK;
}

static void begin_item(struct http *H, struct slot *s,
		       struct probe_item *it)
{
	struct probe *p = H->p;

	s->it = it;
	it->state = 1;
	it->attempts++;
	s->redirects = 0;
	free(s->url);
	s->url = NULL;
	cbd_buf_reset(&s->req);
	curl_slist_free_all(s->hdrs);
	s->hdrs = NULL;
	probe_request_body(p, it, &s->req, &s->json_len);
	if (s->json_len != PROBE_NO_HEADER)
		s->hdrs = probe_http_headers(p->o, s->json_len);
	if (s->req.st || (s->json_len != PROBE_NO_HEADER && !s->hdrs) ||
	    !start(H, s)) {
		struct probe_outcome oc = {.label = -1, .retry_after_s = -1};

		snprintf(oc.error, sizeof(oc.error), "cannot start request");
		s->it = NULL;
		probe_finish(p, it, &oc);
	}
}

/* Same scheme, host and port? */
static int same_origin(const char *a, const char *b)
{
	CURLU *ua = curl_url(), *ub = curl_url();
	char *x[3] = {0}, *y[3] = {0};
	const CURLUPart parts[3] = {CURLUPART_SCHEME, CURLUPART_HOST,
				    CURLUPART_PORT};
	int same = ua && ub && !curl_url_set(ua, CURLUPART_URL, a, 0) &&
		   !curl_url_set(ub, CURLUPART_URL, b, 0);

	for (int i = 0; same && i < 3; i++) {
		curl_url_get(ua, parts[i], &x[i], CURLU_DEFAULT_PORT);
		curl_url_get(ub, parts[i], &y[i], CURLU_DEFAULT_PORT);
		same = x[i] && y[i] && strcasecmp(x[i], y[i]) == 0;
	}
	for (int i = 0; i < 3; i++) {
		curl_free(x[i]);
		curl_free(y[i]);
	}
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}

/* The server's {"error": "..."} message, if any, into oc->error. */
static void http_error(struct slot *s, long code, struct probe_outcome *oc)
{
	cJSON *j = cJSON_ParseWithLength(s->resp.p ? s->resp.p : "",
					 s->resp.len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	if (cJSON_IsString(e))
		snprintf(oc->error, sizeof(oc->error), "HTTP %ld: %.150s",
			 code, e->valuestring);
	else
		snprintf(oc->error, sizeof(oc->error), "HTTP %ld", code);
	cJSON_Delete(j);
	oc->retryable = code == 408 || code == 429 || code >= 500;
}

/* Returns 1 if the request was re-sent (same-origin redirect). */
static int done_one(struct http *H, struct slot *s, CURLcode rc)
{
	struct probe *p = H->p;
	struct probe_outcome oc = {.label = -1, .retry_after_s = -1};
	struct probe_item *it = s->it;
	long code = 0;
	curl_off_t ra = 0;
	char *loc = NULL;

	curl_multi_remove_handle(H->m, s->h);
	oc.latency_ms = (probe_now() - s->t0) * 1e3;
	cbd_sha256(s->req.p, s->req.len, oc.request_digest, NULL);
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &code);
	oc.status = (int)code;
	if (code > 0) {
		oc.has_response = 1;
		cbd_sha256(s->resp.p ? s->resp.p : "", s->resp.len,
			   oc.response_digest, NULL);
	}
	if (curl_easy_getinfo(s->h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra > 0)
		oc.retry_after_s = (double)ra;
	if (rc != CURLE_OK) {
		snprintf(oc.error, sizeof(oc.error), "%s",
			 s->too_big ? "response too large"
			 : rc == CURLE_OPERATION_TIMEDOUT
				 ? "timeout"
				 : curl_easy_strerror(rc));
		oc.retryable = !s->too_big;
	} else if (code >= 300 && code < 400) {
		curl_easy_getinfo(s->h, CURLINFO_REDIRECT_URL, &loc);
		if (loc && p->o->follow_redirects &&
		    s->redirects < MAX_REDIRECTS &&
		    same_origin(loc, H->url)) {
			char *u = strdup(loc);

			if (u) {
				free(s->url);
				s->url = u;
				s->redirects++;
				if (start(H, s))
					return 1;
			}
		}
		snprintf(oc.error, sizeof(oc.error),
			 "HTTP %ld redirect to %.120s not followed", code,
			 loc ? loc : "(no location)");
	} else if (code != 200) {
		http_error(s, code, &oc);
	} else if (p->o->backend == CBD_PROBE_OIP) {
		probe_parse_oip(p, probe_wire_id(it), s->resp.p ? s->resp.p : "",
				s->resp.len, probe_http_header_len(s->h), &oc);
	} else {
		probe_parse_tfserving(p, probe_wire_id(it), s->resp.p ? s->resp.p : "",
				      s->resp.len, &oc);
	}
	s->it = NULL;
	probe_finish(p, it, &oc);
	return 0;
}

static void fill_slots(struct http *H, double now, double *wake)
{
	for (int i = 0; i < H->n_slots; i++) {
		struct slot *s = &H->slots[i];
		struct probe_item *it;

		if (s->it)
			continue;
		if (H->p->aborted)
			return;
		it = probe_next(H->p, now, wake);
		if (!it || !probe_rate_ok(H->p, now, wake))
			return;
		begin_item(H, s, it);
	}
}

static int busy(const struct http *H)
{
	for (int i = 0; H->slots && i < H->n_slots; i++)
		if (H->slots[i].it)
			return 1;
	return 0;
}

cbd_status probe_http_run(struct probe *p, cbd_err *err)
{
	struct http H = {.p = p};
	cbd_status s;
	int running = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	s = setup(&H, err);
	while (!s && !p->fatal &&
	       ((p->done < p->n_items && !p->aborted) || busy(&H))) {
		double now = probe_now(), wake = now + 0.25;
		CURLMsg *msg;
		int left, ms, finished;

		fill_slots(&H, now, &wake);
		if (curl_multi_perform(H.m, &running) != CURLM_OK) {
			s = cbd_err_set(err, CBD_E_INTERNAL,
					"curl_multi_perform failed");
			break;
		}
		finished = 0;
		while ((msg = curl_multi_info_read(H.m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			finished = 1;
			for (int i = 0; i < H.n_slots; i++)
				if (H.slots[i].h == msg->easy_handle &&
				    H.slots[i].it)
					done_one(&H, &H.slots[i],
						 msg->data.result);
		}
		now = probe_now();
		ms = (int)((wake - now) * 1e3);
		ms = ms < 0 ? 0 : ms > 250 ? 250 : ms;
		if (!finished && ms > 0)
			curl_multi_poll(H.m, NULL, 0, ms, NULL);
	}
	teardown(&H);
	return s;
}
