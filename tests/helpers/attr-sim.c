/*
 * attr-sim — make real attribution evidence files for the CLI tests,
 * without a network: the same setup as tests/unit/test_attribute.c, saved
 * to a directory, and transcripts of what a given copy would answer.
 *
 *   attr-sim setup DIR [USERS [TRIGGERS]]
 *       DIR/owner.key, owner.pub, keyring.json, triggers.json(.sig) (trace
 *       set), wm-triggers.json(.sig) (watermark set).
 *   attr-sim transcript DIR SUSPECT OUT
 *       SUSPECT: user:ID | noise:ID:PERCENT | coalition:ID,ID | fail:ID:N |
 *       bare | random | watermark | bare-wm
 *       OUT is a cbd-transcript/1 file written by libcbd's own writer
 *       (lib/transcript), backend "archive", as cbd-probe would record it.
 *
 * Answers come from real circuits (the user's trace secret from the
 * keyring, the owner key, the family's circuit id from the trigger set)
 * applied to the bundled classifier's scores.  Run from the repository top
 * or with CBD_TOP set.
 */
#include "attr_sim.h"
#include "transcript/transcript_internal.h"

static const char *top(void)
{
	const char *t = getenv("CBD_TOP");

	return t ? t : ".";
}

static int setup(const char *dir, size_t users, size_t T)
{
	struct sim s;
	char p[4096];
	cbd_key *pub = NULL;

	if (sim_setup(&s, top(), dir, users, T) != 0)
		return 1;
	snprintf(p, sizeof(p), "%s/owner.key", dir);
	SIM_TRY(cbd_key_save_private(s.owner, p, NULL, 1, SIM_E));
	snprintf(p, sizeof(p), "%s/owner.pub", dir);
	SIM_TRY(cbd_key_public_copy(s.owner, &pub, SIM_E));
	SIM_TRY(cbd_key_save_public(pub, p, SIM_E));
	snprintf(p, sizeof(p), "%s/keyring.json", dir);
	SIM_TRY(cbd_keyring_save(s.kr, p, SIM_E));
	cbd_key_free(pub);
	sim_free(&s);
	return 0;
}

/* Rebuild the in-memory setup from DIR's files. */
static int load(struct sim *s, const char *dir)
{
	uint8_t wid[CBD_CIRCUIT_ID_LEN];
	char p[4096];

	memset(s, 0, sizeof(*s));
	snprintf(p, sizeof(p), "%s/owner.key", dir);
	SIM_TRY(cbd_key_load(p, NULL, &s->owner, SIM_E));
	snprintf(p, sizeof(p), "%s/keyring.json", dir);
	SIM_TRY(cbd_keyring_load(p, &s->kr, SIM_E));
	snprintf(p, sizeof(p), "%s/triggers.json", dir);
	SIM_TRY(cbd_triggerset_load(p, s->owner, &s->ts, SIM_E));
	snprintf(p, sizeof(p), "%s/wm-triggers.json", dir);
	SIM_TRY(cbd_triggerset_load(p, s->owner, &s->wts, SIM_E));
	s->T = cbd_triggerset_count(s->ts);
	cbd_triggerset_circuit_id(s->ts, s->cid);
	cbd_triggerset_circuit_id(s->wts, wid);
	if (sim_circuit(s, CBD_MODE_WATERMARK, wid, NULL, NULL, &s->wm) != 0)
		return -1;
	if (sim_scores(top(), s->ts, &s->bare) != 0 ||
	    sim_scores(top(), s->wts, &s->wbare) != 0)
		return -1;
	return 0;
}

static int copy_of(struct sim *s, const char *id, cbd_circuit **c)
{
	const cbd_user *u = cbd_keyring_find(s->kr, id);

	if (!u) {
		fprintf(stderr, "attr-sim: no user %s\n", id);
		return -1;
	}
	return sim_user_copy(s, u, c);
}

/* The archive backend's request: the float32 input, little-endian
 * (formats/transcript.md), spelled out here independently of lib/probe. */
static int request_digest(const cbd_triggerset *ts, size_t j,
			  uint8_t d[CBD_SHA256_LEN])
{
	const cbd_tensor *in = cbd_triggerset_get(ts, j)->input;
	float *x = NULL;
	uint8_t *le = malloc(in->nelem * 4);

	if (!le)
		return -1;
	SIM_TRY(cbd_triggerset_input_float(ts, j, &x, SIM_E));
	for (size_t i = 0; i < in->nelem; i++) {
		uint32_t u;

		memcpy(&u, &x[i], 4);
		for (int k = 0; k < 4; k++)
			le[4 * i + k] = (uint8_t)(u >> (8 * k));
	}
	SIM_TRY(cbd_sha256(le, in->nelem * 4, d, SIM_E));
	free(x);
	free(le);
	return 0;
}

static int write_transcript(struct sim *s, const cbd_triggerset *ts,
			    const int *labels, const char *out)
{
	cbd_tw_header h = {0};
	cbd_tw *w = NULL;
	size_t n = cbd_triggerset_count(ts), ok = 0, bad = 0;

	h.tool = "attr-sim " CBD_VERSION;
	h.endpoint = "attr-sim";
	h.backend = "archive";
	h.model = "";
	h.datatype = "FP32";
	cbd_triggerset_digest(ts, h.triggers_digest);
	h.num_triggers = n;
	h.num_classes = SIM_K;
	SIM_TRY(cbd_tw_create(out, &h, 1, &w, SIM_E));
	for (size_t j = 0; j < n; j++) {
		cbd_transcript_record r = {0};
		const cbd_trigger *t = cbd_triggerset_get(ts, j);
		float sc[SIM_K];

		r.index = j;
		r.trigger_id = t->id;
		r.label = labels[j];
		r.status = labels[j] >= 0 ? 200 : 0;
		r.error = labels[j] >= 0 ? NULL : "timeout";
		r.attempts = 1;
		SIM_TRY(request_digest(ts, j, r.request_digest));
		if (labels[j] >= 0) {
			memcpy(sc, ts == s->ts ? s->bare[j] : s->wbare[j],
			       sizeof(sc));
			r.scores = sc;
			r.num_scores = SIM_K;
			ok++;
		} else {
			bad++;
		}
		SIM_TRY(cbd_tw_query(w, &r, SIM_E));
	}
	SIM_TRY(cbd_tw_end(w, ok, bad, SIM_E));
	cbd_tw_close(w);
	return 0;
}

static int transcript(const char *dir, const char *suspect, const char *out)
{
	struct sim s;
	cbd_circuit *a = NULL, *b = NULL;
	const cbd_triggerset *ts;
	int *labels, rc = -1;
	char id[128], id2[128];
	int num = 0;

	if (load(&s, dir) != 0)
		return 1;
	ts = strcmp(suspect, "watermark") == 0 ||
			     strcmp(suspect, "bare-wm") == 0
		     ? s.wts
		     : s.ts;
	labels = calloc(cbd_triggerset_count(ts), sizeof(int));
	if (strncmp(suspect, "user:", 5) == 0) {
		rc = copy_of(&s, suspect + 5, &a);
		if (rc == 0)
			rc = sim_answers(&s, a, ts, labels);
	} else if (sscanf(suspect, "noise:%127[^:]:%d", id, &num) == 2) {
		rc = copy_of(&s, id, &a);
		if (rc == 0)
			rc = sim_answers(&s, a, ts, labels);
		sim_noise(labels, s.T, num / 100.0);
	} else if (sscanf(suspect, "fail:%127[^:]:%d", id, &num) == 2) {
		rc = copy_of(&s, id, &a);
		if (rc == 0)
			rc = sim_answers(&s, a, ts, labels);
		for (int j = 0; j < num && (size_t)j < s.T; j++)
			labels[j] = -1;
	} else if (sscanf(suspect, "coalition:%127[^,],%127s", id, id2) == 2) {
		rc = copy_of(&s, id, &a);
		if (rc == 0)
			rc = copy_of(&s, id2, &b);
		if (rc == 0)
			rc = sim_average(&s, a, b, labels);
	} else if (strcmp(suspect, "bare") == 0 ||
		   strcmp(suspect, "bare-wm") == 0) {
		rc = sim_answers(&s, NULL, ts, labels);
	} else if (strcmp(suspect, "watermark") == 0) {
		rc = sim_answers(&s, s.wm, ts, labels);
	} else if (strcmp(suspect, "random") == 0) {
		for (size_t j = 0; j < s.T; j++)
			labels[j] = sim_rand_below(SIM_K);
		rc = 0;
	} else {
		fprintf(stderr, "attr-sim: unknown suspect %s\n", suspect);
	}
	if (rc == 0)
		rc = write_transcript(&s, ts, labels, out);
	free(labels);
	cbd_circuit_free(a);
	cbd_circuit_free(b);
	sim_free(&s);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "setup") == 0)
		return setup(argv[2], argc > 3 ? strtoul(argv[3], NULL, 10) : 20,
			     argc > 4 ? strtoul(argv[4], NULL, 10) : 64);
	if (argc == 5 && strcmp(argv[1], "transcript") == 0)
		return transcript(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: attr-sim setup DIR [USERS [TRIGGERS]]\n"
			"       attr-sim transcript DIR SUSPECT OUT\n");
	return 64;
}
