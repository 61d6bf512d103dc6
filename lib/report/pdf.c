/*
 * pdf.c — a report drawn as a one-page A4 PDF with cairo.
 *
 * The page is read from the report's JSON (never from the attribution in
 * memory), so `cbd-report` can draw any saved or piped report.  Layout, top
 * to bottom: a header band (title, case, date), the verdict sentence in a
 * coloured box, the parameters, a bar chart of per-user matches with the
 * significance threshold (the smallest s that is significant) and chance
 * (T/K) as horizontal lines, thumbnails of a few triggers with the label
 * the suspect returned (when the trigger set and a transcript are given),
 * and the evidence digests with the signing key.  Text uses cairo's toy
 * font API (fontconfig picks DejaVu Sans); images are drawn with nearest
 * filtering so the digits stay crisp.  The PDF goes to memory through
 * cairo_pdf_surface_create_for_stream; the creation date comes from the
 * caller (SOURCE_DATE_EPOCH) via cairo_pdf_surface_set_metadata.
 */
#include "report_internal.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define PAGE_W 595.0
#define PAGE_H 842.0
#define MARGIN 42.0
#define FONT "DejaVu Sans"
#define MONO "DejaVu Sans Mono"

struct pdf {
	cairo_t *cr;
	const cJSON *j;
	double y;                 /* next free line */
};

static const cJSON *jget(const cJSON *o, const char *path)
{
	char key[64];
	const char *dot;

	while (o && (dot = strchr(path, '.'))) {
		size_t n = (size_t)(dot - path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		o = cJSON_GetObjectItemCaseSensitive(o, key);
		path = dot + 1;
	}
	return o ? cJSON_GetObjectItemCaseSensitive(o, path) : NULL;
}

static const char *jstr(const cJSON *o, const char *path, const char *def)
{
	const cJSON *v = jget(o, path);

	return cJSON_IsString(v) ? v->valuestring : def;
}

static double jnum(const cJSON *o, const char *path, double def)
{
	const cJSON *v = jget(o, path);

	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static void font(cairo_t *cr, const char *face, double size, int bold)
{
	cairo_select_font_face(cr, face, CAIRO_FONT_SLANT_NORMAL,
			       bold ? CAIRO_FONT_WEIGHT_BOLD
				    : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, size);
}

static void rgb(cairo_t *cr, unsigned hex)
{
	cairo_set_source_rgb(cr, (hex >> 16 & 255) / 255.0,
			     (hex >> 8 & 255) / 255.0, (hex & 255) / 255.0);
}

static void text_at(cairo_t *cr, double x, double y, const char *s)
{
	cairo_move_to(cr, x, y);
	cairo_show_text(cr, s);
}

static double text_w(cairo_t *cr, const char *s)
{
	cairo_text_extents_t e;

	cairo_text_extents(cr, s, &e);
	return e.x_advance;
}

/* Draw s word-wrapped into width w from (x, y); returns the y after it. */
static double wrap(cairo_t *cr, double x, double y, double w, double lead,
		   const char *s, int draw)
{
	char line[1024] = "", word[512];

	while (*s) {
		size_t n = strcspn(s, " ");
		char trial[1024 + 512];

		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, s, n);
		word[n] = 0;
		s += n;
		while (*s == ' ')
			s++;
		snprintf(trial, sizeof(trial), "%s%s%s", line,
			 line[0] ? " " : "", word);
		if (line[0] && text_w(cr, trial) > w) {
			if (draw)
				text_at(cr, x, y, line);
			y += lead;
			memcpy(line, word, n + 1);
		} else if (strlen(trial) < sizeof(line)) {
			memcpy(line, trial, strlen(trial) + 1);
		}
	}
	if (line[0]) {
		if (draw)
			text_at(cr, x, y, line);
		y += lead;
	}
	return y;
}

static void section(struct pdf *p, const char *title)
{
	cairo_t *cr = p->cr;

	p->y += 14;
	rgb(cr, 0x1f3a5f);
	font(cr, FONT, 11.5, 1);
	text_at(cr, MARGIN, p->y, title);
	cairo_set_line_width(cr, 0.6);
	rgb(cr, 0xb8c4d6);
	cairo_move_to(cr, MARGIN, p->y + 4);
	cairo_line_to(cr, PAGE_W - MARGIN, p->y + 4);
	cairo_stroke(cr);
	p->y += 18;
}

static void header(struct pdf *p)
{
	cairo_t *cr = p->cr;
	char line[600];

	rgb(cr, 0x1f3a5f);
	cairo_rectangle(cr, 0, 0, PAGE_W, 78);
	cairo_fill(cr);
	cairo_set_source_rgb(cr, 1, 1, 1);
	font(cr, FONT, 19, 1);
	text_at(cr, MARGIN, 36, "Model attribution report");
	font(cr, FONT, 10, 0);
	snprintf(line, sizeof(line), "Case %s", jstr(p->j, "case", ""));
	text_at(cr, MARGIN, 58, line);
	snprintf(line, sizeof(line), "Created %s by %s",
		 jstr(p->j, "created", ""), jstr(p->j, "tool", ""));
	text_at(cr, PAGE_W - MARGIN - text_w(cr, line), 58, line);
	p->y = 78;
}

static void verdict(struct pdf *p)
{
	cairo_t *cr = p->cr;
	const char *outcome = jstr(p->j, "verdict.outcome", "");
	const char *wm = jstr(p->j, "verdict.watermark", "");
	const char *sum = jstr(p->j, "verdict.summary", "");
	int hit = strcmp(outcome, "no attribution") != 0 ||
		  strcmp(wm, "present") == 0;
	double h, top = p->y + 16, w = PAGE_W - 2 * MARGIN - 24;

	font(cr, FONT, 11, 0);
	h = wrap(cr, 0, 0, w, 15, sum, 0) + 30;
	rgb(cr, hit ? 0xfbeaea : 0xeef3ea);
	cairo_rectangle(cr, MARGIN, top, PAGE_W - 2 * MARGIN, h);
	cairo_fill(cr);
	rgb(cr, hit ? 0xb03030 : 0x4a7a3a);
	cairo_rectangle(cr, MARGIN, top, 5, h);
	cairo_fill(cr);
	font(cr, FONT, 9, 1);
	text_at(cr, MARGIN + 14, top + 15,
		strcmp(outcome, "coalition") == 0 ? "VERDICT: POSSIBLE COALITION"
		: strcmp(outcome, "attributed") == 0 ? "VERDICT: ATTRIBUTED"
		: hit ? "VERDICT: WATERMARK PRESENT"
		      : "VERDICT: NO ATTRIBUTION");
	rgb(cr, 0x222222);
	font(cr, FONT, 11, 0);
	wrap(cr, MARGIN + 14, top + 31, w, 15, sum, 1);
	p->y = top + h;
}

static void kv(cairo_t *cr, double x, double y, const char *k, const char *v)
{
	rgb(cr, 0x667085);
	font(cr, FONT, 8.5, 0);
	text_at(cr, x, y, k);
	rgb(cr, 0x111111);
	font(cr, FONT, 10, 1);
	text_at(cr, x, y + 13, v);
}

static void parameters(struct pdf *p)
{
	cairo_t *cr = p->cr;
	const cJSON *pa = jget(p->j, "parameters");
	char v[8][96], alpha[32];
	double cw = (PAGE_W - 2 * MARGIN) / 4;

	section(p, "Case and parameters");
	cbd_report_fmt_logp_short(log(jnum(pa, "alpha", 1e-9)), alpha);
	snprintf(v[0], 96, "%s", jstr(p->j, "investigator.name", ""));
	snprintf(v[1], 96, "%.90s", jstr(p->j, "suspect.endpoint", ""));
	snprintf(v[2], 96, "%.0f of %.0f (%.0f failed, %.0f not asked)",
		 jnum(pa, "answered", 0), jnum(pa, "num_triggers", 0),
		 jnum(pa, "failed", 0), jnum(pa, "unasked", 0));
	snprintf(v[3], 96, "%.0f", jnum(pa, "num_classes", 0));
	snprintf(v[4], 96, "%.0f", jnum(pa, "users_tested", 0));
	snprintf(v[5], 96, "%s (Bonferroni)", alpha);
	snprintf(v[6], 96, "%.0f matches", jnum(pa, "threshold", 0));
	snprintf(v[7], 96, "%s", jstr(p->j, "suspect.probe_start", ""));
	if (strcmp(alpha, "1.0e-9") == 0)
		snprintf(alpha, sizeof(alpha), "1e-9");
	kv(cr, MARGIN, p->y, "Investigator", v[0][0] ? v[0] : "-");
	kv(cr, MARGIN + cw, p->y, "Suspect endpoint", v[1][0] ? v[1] : "-");
	p->y += 32;
	kv(cr, MARGIN, p->y, "Triggers answered (T)", v[2]);
	kv(cr, MARGIN + 2 * cw, p->y, "Classes (K)", v[3]);
	kv(cr, MARGIN + 3 * cw, p->y, "Users tested (N)", v[4]);
	p->y += 32;
	kv(cr, MARGIN, p->y, "Significance level", v[5]);
	kv(cr, MARGIN + 2 * cw, p->y, "Significant from", v[6]);
	kv(cr, MARGIN + 3 * cw, p->y, "Probe started", v[7][0] ? v[7] : "-");
	p->y += 26;
}

static void hline(cairo_t *cr, double x0, double x1, double y, unsigned c,
		  const char *label)
{
	double dash[2] = {4, 3};

	rgb(cr, c);
	cairo_set_line_width(cr, 1.1);
	cairo_set_dash(cr, dash, 2, 0);
	cairo_move_to(cr, x0, y);
	cairo_line_to(cr, x1, y);
	cairo_stroke(cr);
	cairo_set_dash(cr, NULL, 0, 0);
	font(cr, FONT, 7.5, 0);
	text_at(cr, x1 - text_w(cr, label), y - 3, label);
}

/* The chart's geometry: plot area, one slot per bar. */
struct plot {
	double x0, x1, y0, h, bw, T;
	int n;                    /* bars, the watermark's first */
	int wm;                   /* a watermark bar is drawn */
};

static void plot_grid(cairo_t *cr, const struct plot *g)
{
	char s[32];

	font(cr, FONT, 7.5, 0);
	for (int k = 0; k <= 4; k++) {
		double y = g->y0 - g->h * k / 4;

		rgb(cr, 0x667085);
		snprintf(s, sizeof(s), "%.0f", g->T * k / 4);
		text_at(cr, g->x0 - 6 - text_w(cr, s), y + 3, s);
		rgb(cr, 0xe4e7ec);
		cairo_set_line_width(cr, 0.5);
		cairo_move_to(cr, g->x0, y);
		cairo_line_to(cr, g->x1, y);
		cairo_stroke(cr);
	}
}

/* Bar i with its label below, rotated. */
static void plot_bar(cairo_t *cr, const struct plot *g, int i, double m,
		     unsigned colour, const char *label)
{
	double bh = g->h * m / g->T, x = g->x0 + g->bw * i;
	char s[32];

	rgb(cr, colour);
	cairo_rectangle(cr, x + g->bw * 0.15, g->y0 - bh, g->bw * 0.7, bh);
	cairo_fill(cr);
	rgb(cr, 0x333333);
	font(cr, FONT, 7, 0);
	cairo_save(cr);
	cairo_move_to(cr, x + g->bw * 0.5 - 2, g->y0 + 6);
	cairo_rotate(cr, M_PI / 3);
	snprintf(s, sizeof(s), "%.24s", label);
	cairo_show_text(cr, s);
	cairo_restore(cr);
}

static void plot_lines(cairo_t *cr, const struct plot *g, double K,
		       double thr)
{
	char s[96];

	rgb(cr, 0x333333);
	cairo_set_line_width(cr, 0.8);
	cairo_move_to(cr, g->x0, g->y0 - g->h - 4);
	cairo_line_to(cr, g->x0, g->y0);
	cairo_line_to(cr, g->x1, g->y0);
	cairo_stroke(cr);
	if (thr <= g->T) {
		snprintf(s, sizeof(s), "significance threshold: %.0f matches",
			 thr);
		hline(cr, g->x0, g->x1, g->y0 - g->h * thr / g->T, 0xc0392b, s);
	}
	snprintf(s, sizeof(s), "chance: T/K = %.1f", g->T / K);
	hline(cr, g->x0, g->x1, g->y0 - g->h / K, 0x667085, s);
}

/* Bars: the report's user rows (and the watermark), height = matches;
 * the threshold (smallest significant s) and chance as lines. */
static void chart(struct pdf *p)
{
	cairo_t *cr = p->cr;
	const cJSON *users = jget(p->j, "users"), *u;
	const cJSON *wm = jget(p->j, "watermark");
	double N = jnum(p->j, "parameters.users_tested", 0);
	struct plot g = {MARGIN + 30, PAGE_W - MARGIN, 0, 150, 0, 1, 0, 0};
	int i = 0, max = 30;
	char s[200];

	section(p, "Matches per user");
	g.T = jnum(p->j, "parameters.answered", 0);
	if (g.T < 1)
		g.T = 1;
	cJSON_ArrayForEach(u, users) g.n++;
	g.n = g.n > max ? max : g.n;
	g.wm = cJSON_IsObject(wm);
	g.n += g.wm;
	g.y0 = p->y + g.h;
	g.bw = g.n ? (g.x1 - g.x0) / g.n : 0;
	if (g.bw > 42)
		g.bw = 42;   /* a few bars stay bars, not blocks */
	plot_grid(cr, &g);
	if (g.wm)
		plot_bar(cr, &g, i++, jnum(wm, "matches", 0),
			 cJSON_IsTrue(jget(wm, "significant")) ? 0x1f3a5f
							       : 0x9aa8bd,
			 "owner");
	cJSON_ArrayForEach(u, users) {
		if (i >= g.n)
			break;
		plot_bar(cr, &g, i++, jnum(u, "matches", 0),
			 cJSON_IsTrue(jget(u, "significant")) ? 0xc0392b
							      : 0xa0a7b4,
			 jstr(u, "id", ""));
	}
	plot_lines(cr, &g, jnum(p->j, "parameters.num_classes", 2),
		   jnum(p->j, "parameters.threshold", 0));
	p->y = g.y0 + 52;
	font(cr, FONT, 7.5, 0);
	rgb(cr, 0x667085);
	if (N > 0)
		snprintf(s, sizeof(s), "Shown: %d of %.0f users (the "
			 "significant ones and the highest scores).  Red: "
			 "significant after %s.", g.n - g.wm, N,
			 strcmp(jstr(p->j, "parameters.adjustment", ""),
				"bonferroni+ville") == 0
				 ? "the sequential test (Ville, Bonferroni)"
				 : "Bonferroni adjustment");
	else
		snprintf(s, sizeof(s), "Watermark test only: matches with the "
			 "owner's labels (dark blue: significant).");
	text_at(cr, MARGIN, p->y, s);
	p->y += 4;
}

static void thumb(cairo_t *cr, const cbd_tensor *t, double x, double y,
		  double size)
{
	int C = t->ndim == 3 ? (int)t->dims[0] : 1;
	int H = (int)t->dims[t->ndim - 2], W = (int)t->dims[t->ndim - 1];
	const uint8_t *q = t->data;
	cairo_surface_t *img;
	unsigned char *px;
	int stride;

	if (t->dtype != CBD_DT_UINT8 || t->ndim < 2 || H <= 0 || W <= 0 ||
	    H > 4096 || W > 4096 || (C != 1 && C != 3))
		return;
	img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
	cairo_surface_flush(img);
	px = cairo_image_surface_get_data(img);
	stride = cairo_image_surface_get_stride(img);
	for (int r = 0; r < H; r++)
		for (int c = 0; c < W; c++) {
			uint32_t v[3];

			for (int k = 0; k < 3; k++)
				v[k] = q[(size_t)(C == 3 ? k : 0) * H * W +
					 (size_t)r * W + c];
			*(uint32_t *)(px + r * stride + 4 * c) =
				v[0] << 16 | v[1] << 8 | v[2];
		}
	cairo_surface_mark_dirty(img);
	cairo_save(cr);
	cairo_translate(cr, x, y);
	cairo_scale(cr, size / W, size / H);
	cairo_set_source_surface(cr, img, 0, 0);
	cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
	cairo_paint(cr);
	cairo_restore(cr);
	cairo_surface_destroy(img);
	rgb(cr, 0x98a2b3);
	cairo_set_line_width(cr, 0.5);
	cairo_rectangle(cr, x, y, size, size);
	cairo_stroke(cr);
}

static void thumbnails(struct pdf *p, const cbd_report_pdf_opts *o)
{
	cairo_t *cr = p->cr;
	size_t n = cbd_transcript_count(o->transcript), shown = 0;
	int want = o->thumbnails > 0 ? o->thumbnails : 8;
	double size = 50, gap = (PAGE_W - 2 * MARGIN - want * size) /
				(want > 1 ? want - 1 : 1);
	char s[64];

	const cJSON *named = cJSON_GetArrayItem(jget(p->j,
						      "verdict.attributed"), 0);
	const cbd_user *u = o->keyring && cJSON_IsString(named)
				    ? cbd_keyring_find(o->keyring,
						       named->valuestring)
				    : NULL;

	if (gap < 4)
		gap = 4;
	section(p, "Triggers and the labels the suspect returned");
	for (size_t i = 0; i < n && (int)shown < want; i++) {
		const cbd_transcript_record *r =
			cbd_transcript_record_at(o->transcript, i);
		const cbd_trigger *t;
		double x = MARGIN + shown * (size + gap);

		if (r->index >= cbd_triggerset_count(o->triggers))
			continue;
		t = cbd_triggerset_get(o->triggers, r->index);
		thumb(cr, t->input, x, p->y, size);
		font(cr, FONT, 7.5, 0);
		rgb(cr, 0x333333);
		snprintf(s, sizeof(s), "%.16s", t->id ? t->id : "");
		text_at(cr, x, p->y + size + 10, s);
		font(cr, FONT, 8, 1);
		if (r->label >= 0)
			snprintf(s, sizeof(s), "returned %d", r->label);
		else
			snprintf(s, sizeof(s), "failed");
		rgb(cr, r->label >= 0 ? 0x1f3a5f : 0xb03030);
		text_at(cr, x, p->y + size + 21, s);
		if (t->owner_label >= 0) {
			font(cr, FONT, 7, 0);
			rgb(cr, 0x667085);
			snprintf(s, sizeof(s), "owner label %d", t->owner_label);
			text_at(cr, x, p->y + size + 31, s);
		}
		if (u) {
			int l = cbd_trace_label(u->trace_secret, t->message,
						t->message_len,
						cbd_triggerset_num_classes(
							o->triggers));

			font(cr, FONT, 7, 0);
			rgb(cr, l == r->label ? 0x2e7d32 : 0xb03030);
			/* U+2713 check mark, U+2717 ballot x (DejaVu) */
			snprintf(s, sizeof(s), "%.8s: %d %s", u->id, l,
				 l == r->label ? "\u2713" : "\u2717");
			text_at(cr, x, p->y + size + 31, s);
		}
		shown++;
	}
	p->y += size + 36;
}

static void evidence(struct pdf *p, const cbd_report_pdf_opts *o)
{
	cairo_t *cr = p->cr;
	const cJSON *tr = jget(p->j, "evidence.transcripts"), *t;
	char s[200];
	int i = 0;

	section(p, "Evidence (SHA-256)");
	font(cr, FONT, 8, 0);
	rgb(cr, 0x667085);
	text_at(cr, MARGIN, p->y, "Trigger set");
	text_at(cr, MARGIN, p->y + 12, "Keyring");
	font(cr, MONO, 7.5, 0);
	rgb(cr, 0x111111);
	text_at(cr, MARGIN + 92, p->y, jstr(p->j, "evidence.triggers", "-"));
	text_at(cr, MARGIN + 92, p->y + 12,
		jstr(p->j, "evidence.keyring", "(none: watermark only)"));
	p->y += 24;
	cJSON_ArrayForEach(t, tr) {
		if (i == 4)
			break;
		font(cr, FONT, 8, 0);
		rgb(cr, 0x667085);
		snprintf(s, sizeof(s), "Transcript %d", i + 1);
		text_at(cr, MARGIN, p->y, s);
		font(cr, MONO, 7.5, 0);
		rgb(cr, 0x111111);
		snprintf(s, sizeof(s), "%s  (chain head, %.0f lines)",
			 jstr(t, "head", "-"), jnum(t, "lines", 0));
		text_at(cr, MARGIN + 92, p->y, s);
		p->y += 12;
		i++;
	}
	font(cr, FONT, 8, 0);
	rgb(cr, 0x667085);
	text_at(cr, MARGIN, p->y, "Signature");
	font(cr, FONT, 8, 1);
	rgb(cr, 0x111111);
	snprintf(s, sizeof(s), "%s", o->signature ? o->signature
			: jstr(p->j, "investigator.key_id", NULL)
			? "not checked" : "unsigned report");
	text_at(cr, MARGIN + 92, p->y, s);
	if (jstr(p->j, "investigator.key_id", NULL)) {
		p->y += 12;
		font(cr, FONT, 8, 0);
		rgb(cr, 0x667085);
		text_at(cr, MARGIN, p->y, "Signing key id");
		font(cr, MONO, 7.5, 0);
		rgb(cr, 0x111111);
		text_at(cr, MARGIN + 92, p->y,
			jstr(p->j, "investigator.key_id", ""));
	}
	p->y += 12;
}

static void footer(struct pdf *p)
{
	cairo_t *cr = p->cr;
	const char *s = "Method: s of T answered triggers match a user's trace "
			"labels; p = P[Bin(T, 1/K) >= s], adjusted "
			"min(1, N p).  Format cbd-report/1; the signed JSON "
			"report is the evidence, this page is its rendering.";

	font(cr, FONT, 7, 0);
	rgb(cr, 0x98a2b3);
	wrap(cr, MARGIN, PAGE_H - 34, PAGE_W - 2 * MARGIN, 9, s, 1);
}

static cairo_status_t sink(void *closure, const unsigned char *data,
			   unsigned int len)
{
	cbd_buf *b = closure;

	cbd_buf_add(b, data, len);
	return b->st ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

cbd_status cbd_report_pdf(const uint8_t *json, size_t len,
			  const cbd_report_pdf_opts *o, uint8_t **pdf,
			  size_t *pdf_len, cbd_err *err)
{
	cbd_report_pdf_opts def = {0};
	cbd_buf out = {0};
	struct pdf p = {0};
	cairo_surface_t *surf;
	void *j = NULL;
	char date[32], title[300];
	cbd_status s;

	*pdf = NULL;
	*pdf_len = 0;
	if (!o)
		o = &def;
	s = cbd_report_parse(json, len, &j, err);
	if (s != CBD_OK)
		return s;
	p.j = j;
	surf = cairo_pdf_surface_create_for_stream(sink, &out, PAGE_W, PAGE_H);
	cairo_pdf_surface_restrict_to_version(surf, CAIRO_PDF_VERSION_1_5);
	if (o->created >= 0)
		cbd_report_fmt_time(o->created, date);
	else
		snprintf(date, sizeof(date), "%.19s", jstr(j, "created", ""));
	date[19] = 0;   /* cairo wants YYYY-MM-DDThh:mm:ss */
	cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_CREATE_DATE,
				       date);
	snprintf(title, sizeof(title), "Attribution report, case %.200s",
		 jstr(j, "case", ""));
	cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_TITLE, title);
	cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_AUTHOR,
				       jstr(j, "investigator.name", ""));
	cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_CREATOR,
				       "cbd-report " CBD_VERSION);
	p.cr = cairo_create(surf);
	cairo_set_source_rgb(p.cr, 1, 1, 1);
	cairo_paint(p.cr);
	header(&p);
	verdict(&p);
	parameters(&p);
	chart(&p);
	if (o->triggers && o->transcript)
		thumbnails(&p, o);
	evidence(&p, o);
	footer(&p);
	cairo_show_page(p.cr);
	cairo_destroy(p.cr);
	cairo_surface_finish(surf);
	if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS || out.st) {
		s = cbd_err_set(err, CBD_E_IO, "cannot draw the PDF: %s",
				cairo_status_to_string(
					cairo_surface_status(surf)));
		free(out.p);
	} else {
		*pdf = (uint8_t *)out.p;
		*pdf_len = out.len;
	}
	cairo_surface_destroy(surf);
	cJSON_Delete(j);
	return s;
}
