/* Long double arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
 *
 * Redis does these in C `long double` (x87 80-bit on x86-64) and prints the result with
 * "%.17Lf" before trimming zeros; Rust has no such type, so the few lines that must round
 * exactly like Redis live here. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#define FORKV_MAX_LD_CHARS (5 * 1024)

/* Parse like Redis's string2ld: the whole buffer, no leading space, no NaN. 1 on success. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[FORKV_MAX_LD_CHARS];
    char *end;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    long double v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || *end != '\0' || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v))
        return 0;
    *out = v;
    return 1;
}

/* Format like Redis's ld2string(LD_STR_HUMAN). Returns the length, or -1. */
static int format_ld(long double v, char *out, size_t outlen) {
    if (isinf(v)) {
        return snprintf(out, outlen, "%s", v > 0 ? "inf" : "-inf");
    }
    int l = snprintf(out, outlen, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > outlen) return -1;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    out[l] = '\0';
    return l;
}

/* Returns: 0 ok (result in out, length in *outlen_used), 1 current value not a float,
 * 2 increment not a float, 3 result NaN or infinite, 4 formatting failed. */
int forkv_ld_incr(const char *cur, size_t curlen, int has_cur, const char *inc, size_t inclen,
                  char *out, size_t outlen, int *used) {
    long double a = 0, b;
    if (has_cur && !parse_ld(cur, curlen, &a)) return 1;
    if (!parse_ld(inc, inclen, &b)) return 2;
    long double r = a + b;
    if (isnan(r) || isinf(r)) return 3;
    int l = format_ld(r, out, outlen);
    if (l < 0) return 4;
    *used = l;
    return 0;
}

/* Parse a value as long double and format it back (used to canonicalize stored values). */
int forkv_ld_check(const char *s, size_t len) {
    long double v;
    return parse_ld(s, len, &v);
}
