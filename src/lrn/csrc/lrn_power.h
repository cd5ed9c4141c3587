/* x * s ** e in double, with no intermediate that leaves double's normal
   range when the result does not (design §2).  Shared by both kernel builds
   (the double rows, float rows with a general beta, the AVX2 build's
   out-of-range lanes); cuda/lrn_common.cuh computes the same.

   pow(s, e) alone overflows or underflows whenever |e log2 s| > 1022, while
   x * s ** e may well be representable: x = 0 with bias 1e-110 and beta 3
   is 0, not 0 * inf = NaN; x = 1e150 with s = 1e200 and beta 2 is 1e-250,
   not 0.  Where the power is out of the normal range, x is multiplied by
   q = s ** (e / 4) four times: whenever x * s ** e is representable,
   |e log2 s| < 2098 + 1074, so q is a normal number, and the partial
   products move monotonically from x to the result, so none overflows or
   underflows before the result does.  Error: q within 1 ulp, four roundings:
   at most about 8 ulp of double (2e-15), only on these lanes. */
#ifndef LRN_POWER_H
#define LRN_POWER_H

#include <math.h>

#define LRN_DBL_MIN 2.2250738585072014e-308
#define LRN_DBL_MAX 1.7976931348623157e308

static inline double lrn_scaled_pow(double x, double s, double e) {
    double p = pow(s, e), q;
    if ((p >= LRN_DBL_MIN && p <= LRN_DBL_MAX) || !(s > 0.0 && s <= LRN_DBL_MAX))
        return x * p;   /* the usual case, and IEEE's special cases of s */
    if (x == 0.0)
        return x;       /* 0 times a positive number, whatever its size */
    q = pow(s, e * 0.25);
    return x * q * q * q * q;
}

#endif /* LRN_POWER_H */
