/*
 * einsum.c — Einsum: a sum of products over labelled axes, in plain C on
 * float32, float64 and the integer types.
 *
 * The equation ("ij,jk->ik", "...ii->...i", implicit "ij,jk") is parsed
 * into one label per axis of every input; "..." stands for the axes not
 * labelled, numpy-broadcast across the inputs and labelled by position
 * from the right.  Without "->" the output is the ellipsis axes followed
 * by the labels used once, in ASCII order (numpy's rule).  Every label
 * gets one size; a label repeated within a term walks that term's
 * diagonal (its strides add).  The kernel then visits every combination
 * of output labels, and for each sums over every combination of the
 * other labels the product of the inputs at their offsets: plain loops,
 * charged to the compute budget for every product before they run.
 * Integers wrap modulo 2^64 and are truncated to their type; floats
 * accumulate in double.
 */
#include "nn_internal.h"

#include <string.h>

#define ES_LABELS (52 + CBD_MAX_DIMS)   /* a-z, A-Z, then ellipsis axes */
#define ES_MAX_IN 8

typedef struct es_term {
	int n;
	int lab[CBD_MAX_DIMS];
} es_term;

typedef struct es_eq {
	int nin;
	es_term in[ES_MAX_IN], out;
	int ell;                    /* axes "..." stands for */
	int64_t size[ES_LABELS];    /* -1 unseen */
} es_eq;

static int label_of(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return 26 + c - 'A';
	return -1;
}

/* One term of the equation (s .. e) for an input of rank r (r < 0: the
 * output, ellipsis width from eq->ell). */
static bool parse_term(const char *s, const char *e, int r, es_eq *eq,
		       es_term *t)
{
	int letters = 0, ell = -1;

	for (const char *p = s; p < e; p++)
		letters += label_of(*p) >= 0;
	t->n = 0;
	for (const char *p = s; p < e; p++) {
		if (*p == ' ')
			continue;
		if (*p == '.') {
			int w = r >= 0 ? r - letters : eq->ell;

			if (ell >= 0 || e - p < 3 || p[1] != '.' || p[2] != '.' ||
			    w < 0 || t->n + w > CBD_MAX_DIMS)
				return false;
			if (r >= 0 && w > eq->ell)
				eq->ell = w;
			ell = t->n;
			for (int k = 0; k < w; k++)   /* right-aligned */
				t->lab[t->n++] = 52 + CBD_MAX_DIMS - w + k;
			p += 2;
			continue;
		}
		if (label_of(*p) < 0 || t->n >= CBD_MAX_DIMS)
			return false;
		t->lab[t->n++] = label_of(*p);
	}
	return r < 0 || t->n == r;
}

static bool parse_eq(const char *s, size_t len, nn_val *const *x, int nin,
		     es_eq *eq)
{
	const char *end = s + len, *arrow = NULL, *p = s;
	int k = 0;

	for (const char *q = s; q + 1 < end; q++)
		if (q[0] == '-' && q[1] == '>')
			arrow = q;
	memset(eq, 0, sizeof(*eq));
	eq->nin = nin;
	for (const char *q = s; q <= (arrow ? arrow : end); q++) {
		if (q == (arrow ? arrow : end) || *q == ',') {
			if (k >= nin || !parse_term(p, q, x[k]->ndim, eq, &eq->in[k]))
				return false;
			k++;
			p = q + 1;
		}
	}
	if (k != nin)
		return false;
	if (arrow)
		return parse_term(arrow + 2, end, -1, eq, &eq->out);
	/* implicit output: ellipsis, then labels used once, in ASCII order */
	{
		int count[ES_LABELS] = {0};
		static const char order[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "abcdefghijklmnopqrstuvwxyz";

		for (int i = 0; i < nin; i++)
			for (int j = 0; j < eq->in[i].n; j++)
				count[eq->in[i].lab[j]]++;
		for (int w = 0; w < eq->ell; w++)
			eq->out.lab[eq->out.n++] = 52 + CBD_MAX_DIMS - eq->ell + w;
		for (const char *c = order; *c; c++)
			if (count[label_of(*c)] == 1) {
				if (eq->out.n >= CBD_MAX_DIMS)
					return false;
				eq->out.lab[eq->out.n++] = label_of(*c);
			}
	}
	return true;
}

/* Label sizes from the inputs; ellipsis axes broadcast (1 or one size). */
static bool label_sizes(es_eq *eq, nn_val *const *x)
{
	for (int l = 0; l < ES_LABELS; l++)
		eq->size[l] = -1;
	for (int i = 0; i < eq->nin; i++)
		for (int j = 0; j < eq->in[i].n; j++) {
			int l = eq->in[i].lab[j];
			int64_t d = x[i]->dims[j];

			if (eq->size[l] < 0 || (l >= 52 && eq->size[l] == 1))
				eq->size[l] = d;
			else if (eq->size[l] != d && !(l >= 52 && d == 1))
				return false;
		}
	for (int j = 0; j < eq->out.n; j++)
		if (eq->size[eq->out.lab[j]] < 0)
			return false;        /* output label no input has */
	return true;
}

typedef struct es_plan {
	int nl, lab[ES_LABELS];      /* output labels, then summed ones */
	int nout;
	int64_t st[ES_MAX_IN][ES_LABELS];  /* per input, per plan position */
} es_plan;

static void make_plan(const es_eq *eq, nn_val *const *x, es_plan *p)
{
	bool used[ES_LABELS] = {false};

	memset(p, 0, sizeof(*p));
	for (int j = 0; j < eq->out.n; j++) {
		p->lab[p->nl++] = eq->out.lab[j];
		used[eq->out.lab[j]] = true;
	}
	p->nout = p->nl;
	for (int i = 0; i < eq->nin; i++)
		for (int j = 0; j < eq->in[i].n; j++)
			if (!used[eq->in[i].lab[j]]) {
				used[eq->in[i].lab[j]] = true;
				p->lab[p->nl++] = eq->in[i].lab[j];
			}
	for (int i = 0; i < eq->nin; i++) {
		int64_t acc = 1;

		for (int j = eq->in[i].n - 1; j >= 0; j--) {
			for (int q = 0; q < p->nl; q++)
				if (p->lab[q] == eq->in[i].lab[j] &&
				    x[i]->dims[j] != 1)
					p->st[i][q] += acc;
			acc *= x[i]->dims[j];
		}
	}
}

static void es_run(const es_eq *eq, const es_plan *p, nn_val *const *x,
		   nn_val *y)
{
	int64_t idx[ES_LABELS] = {0}, d[ES_LABELS];
	size_t ny = nn_val_nelem(y), ns = 1;
	bool fl = nn_is_float(y->dtype);

	for (int q = 0; q < p->nl; q++) {
		d[q] = eq->size[p->lab[q]];
		if (q >= p->nout)
			ns *= (size_t)d[q];
	}
	for (size_t o = 0; o < ny; o++) {
		double fs = 0;
		uint64_t is = 0;

		for (int q = p->nout; q < p->nl; q++)
			idx[q] = 0;
		for (size_t k = 0; k < ns; k++) {
			double fp = 1;
			uint64_t ip = 1;

			for (int i = 0; i < eq->nin; i++) {
				int64_t off = 0;

				for (int q = 0; q < p->nl; q++)
					off += idx[q] * p->st[i][q];
				if (fl)
					fp *= nn_get_f64(x[i], (size_t)off);
				else
					ip *= (uint64_t)nn_get_i64(x[i], (size_t)off);
			}
			fs += fp;
			is += ip;
			for (int q = p->nl - 1; q >= p->nout; q--) {
				if (++idx[q] < d[q])
					break;
				idx[q] = 0;
			}
		}
		if (fl)
			nn_put_f64(y->data, y->dtype, o, fs);
		else   /* little-endian: the low bytes of the wrapped sum */
			memcpy((char *)y->data + o * cbd_dtype_size(y->dtype),
			       &is, cbd_dtype_size(y->dtype));
		for (int q = p->nout - 1; q >= 0; q--) {
			if (++idx[q] < d[q])
				break;
			idx[q] = 0;
		}
	}
}

cbd_status nn_op_einsum(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	const Onnx__AttributeProto *a = nn_attr(n, "equation");
	nn_val *x[ES_MAX_IN], *y = nn_out(nn, n, 0);
	int64_t od[CBD_MAX_DIMS];
	uint64_t work = 1;
	es_eq eq;
	es_plan p;
	cbd_status s;

	if (n->n_in > ES_MAX_IN)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "more than %d inputs",
			       ES_MAX_IN);
	for (int i = 0; i < n->n_in; i++) {
		x[i] = nn_in(nn, n, i);
		if (!x[i] || x[i]->dtype != x[0]->dtype ||
		    x[i]->dtype == CBD_DT_BOOL)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "inputs must be numbers of one type");
	}
	if (!a || !a->has_s || !parse_eq((const char *)a->s.data, a->s.len, x,
					 n->n_in, &eq) || !label_sizes(&eq, x))
		return nn_fail(n, err, CBD_E_FORMAT,
			       "equation does not fit the inputs");
	make_plan(&eq, x, &p);
	for (int q = 0; q < p.nl; q++) {
		uint64_t d = (uint64_t)eq.size[p.lab[q]];

		if (q < p.nout)
			od[q] = (int64_t)d;
		if (d && work > UINT64_MAX / 2 / d / (uint64_t)n->n_in)
			return nn_fail(n, err, CBD_E_TOOBIG, "absurd Einsum");
		work *= d;
	}
	s = nn_charge(n, work * (uint64_t)n->n_in, err);
	if (s == CBD_OK)
		s = nn_val_alloc(n, y, x[0]->dtype, p.nout, od, err);
	if (s == CBD_OK)
		es_run(&eq, &p, x, y);
	return s;
}
