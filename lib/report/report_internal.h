/*
 * report_internal.h — what report.c and pdf.c share (not public): the
 * number and time formats of formats/report.md, and parsing a report back
 * (cJSON underneath, passed as void *).
 */
#ifndef CBD_REPORT_INTERNAL_H
#define CBD_REPORT_INTERNAL_H

#include "../util/util_internal.h"

/* A p-value from its natural log: "%.6f" mantissa, "e", exponent. */
void cbd_report_fmt_logp(double log_p, char out[32]);
/* The same with two significant digits ("2.0e-63"; "1" for p = 1). */
void cbd_report_fmt_logp_short(double log_p, char out[32]);
/* Unix time as "YYYY-MM-DDTHH:MM:SSZ". */
void cbd_report_fmt_time(int64_t t, char out[32]);

/* Check the prefix and parse; *json is a cJSON * (cJSON_Delete it). */
cbd_status cbd_report_parse(const uint8_t *buf, size_t len, void **json,
			    cbd_err *err);

#endif
