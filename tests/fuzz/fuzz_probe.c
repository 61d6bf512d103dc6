/*
 * fuzz_probe.c — libFuzzer target for cbd-probe's response parsers
 * (probe_parse_oip, probe_parse_tfserving, probe_parse_exec in
 * lib/probe/codec.c): what a hostile endpoint sends back.
 *
 * The first input byte picks the backend (bits 0-1) and whether the
 * number of classes is known (bit 2: 10, else unknown); the rest is the
 * response body.  Backend 3 is an oip answer with binary tensor data:
 * two more bytes (big-endian) are its Inference-Header-Content-Length.  Whatever comes back must end as either an error or an
 * answer with a label in range and finite scores of the expected count.
 */
#include "fuzz.h"
#include "probe/probe_internal.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe p;
	struct probe_outcome oc;
	const char *body;
	size_t len;

	if (size < 1)
		return 0;
	memset(&p, 0, sizeof(p));
	memset(&oc, 0, sizeof(oc));
	p.num_classes = (data[0] & 4) ? 10 : 0;
	oc.label = -1;
	oc.retry_after_s = -1;
	body = (const char *)data + 1;
	len = size - 1;
	if ((data[0] & 3) == 3) {
		size_t jl;

		if (size < 3)
			return 0;
		jl = (size_t)data[1] << 8 | data[2];
		probe_parse_oip(&p, "x", body + 2, len - 2, jl, &oc);
	} else switch (data[0] & 3) {
	case 0: probe_parse_oip(&p, "x", body, len, PROBE_NO_HEADER, &oc); break;
	case 1: probe_parse_tfserving(&p, "x", body, len, &oc); break;
	default: probe_parse_exec(&p, "x", body, len, &oc); break;
	}
	if (!memchr(oc.error, 0, sizeof(oc.error)))
		fuzz_fail("error text not terminated");
	if (!oc.error[0]) {
		if (oc.label < 0 || oc.label > 65535 ||
		    (p.num_classes > 0 && oc.label >= p.num_classes))
			fuzz_fail("answer with a label out of range");
		if (oc.scores) {
			if (oc.num_scores < 1 || (p.num_classes > 0 &&
						  oc.num_scores != p.num_classes))
				fuzz_fail("answer with the wrong score count");
			for (int i = 0; i < oc.num_scores; i++)
				if (!isfinite(oc.scores[i]))
					fuzz_fail("answer with a non-finite "
						  "score");
		}
	}
	free(oc.scores);
	return 0;
}
