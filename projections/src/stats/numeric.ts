/**
 * Special functions the tests and estimators need, in plain double precision: log-gamma,
 * log-beta, erfc / the normal distribution with relative (not just absolute) accuracy in the
 * tails, and the regularised incomplete gamma functions. Each cites its algorithm; the values are
 * checked against mpmath at 50 digits in numeric.unit.spec.ts.
 */

const LOG_SQRT_2PI = 0.9189385332046727; // ln(sqrt(2*pi))

// Lanczos approximation with Paul Godfrey's g = 7, n = 9 coefficients; relative error of Gamma
// about 1e-15 on [0.5, 15], which is all it is used for.
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** ln(Gamma(x)) for x > 0. NaN for x <= 0 or NaN; Infinity for Infinity. */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x === Number.POSITIVE_INFINITY) return x;
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum away from its pole at 0.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  if (x >= STIRLING_MIN) return logGammaStirling(x);
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return LOG_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

// Stirling's series: lnGamma(x) = (x - 1/2) ln x - x + ln sqrt(2 pi) + S(x), with S summed to five
// terms. For x >= 15 the first omitted term (691/360360 x^-11) is below 3e-16, so the error is
// rounding only.
const STIRLING_MIN = 15;

function stirlingCorrection(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 * (1 / 1188)))));
}

function logGammaStirling(x: number): number {
  return (x - 0.5) * Math.log(x) - x + LOG_SQRT_2PI + stirlingCorrection(x);
}

/**
 * ln(B(a, b)) for a, b > 0. For large arguments the log-gammas are not subtracted directly, which
 * would lose ~(a + b) * 1e-16 in absolute terms; the Stirling parts are combined first, as R's
 * lbeta does (R Core, src/nmath/lbeta.c), leaving only the small correction series to cancel.
 */
export function logBeta(a: number, b: number): number {
  const p = Math.min(a, b);
  const q = Math.max(a, b);
  if (!(p > 0)) return Number.NaN;
  const ratio = p / (p + q);
  if (p >= STIRLING_MIN) {
    const corr = stirlingCorrection(p) + stirlingCorrection(q) - stirlingCorrection(p + q);
    return (
      -0.5 * Math.log(q) +
      LOG_SQRT_2PI +
      corr +
      (p - 0.5) * Math.log(ratio) +
      q * Math.log1p(-ratio)
    );
  }
  if (q >= STIRLING_MIN) {
    const corr = stirlingCorrection(q) - stirlingCorrection(p + q);
    return logGamma(p) + corr + p - p * Math.log(p + q) + (q - 0.5) * Math.log1p(-ratio);
  }
  return logGamma(p) + logGamma(q) - logGamma(p + q);
}

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969)
// 631-638; coefficients from his netlib SPECFUN routine CALERF (double precision, IEEE).
const ERF_A = [
  3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947,
  0.185777706184603153,
];
const ERF_B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const ERFC_C = [
  0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
  881.95222124176909, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
  2.15311535474403846e-8,
];
const ERFC_D = [
  15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
  3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942,
];
const ERFC_P = [
  0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
  6.58749161529837803e-4, 0.0163153871373020978,
];
const ERFC_Q = [
  2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
  0.00233520497626869185,
];
const ONE_OVER_SQRT_PI = 0.56418958354775628695;
const ERFC_UNDERFLOW = 26.543; // erfc(x) underflows to 0 in doubles beyond this

/** erf(x) for |x| <= 0.46875 (Cody's first interval). */
function erfSmall(x: number): number {
  const y2 = x * x;
  let num = ERF_A[4] * y2;
  let den = y2;
  for (let i = 0; i < 3; i++) {
    num = (num + ERF_A[i]) * y2;
    den = (den + ERF_B[i]) * y2;
  }
  return (x * (num + ERF_A[3])) / (den + ERF_B[3]);
}

/** erfc(y) for y > 0.46875, with relative accuracy. */
function erfcLarge(y: number): number {
  if (y >= ERFC_UNDERFLOW) return 0;
  let result: number;
  if (y <= 4) {
    let num = ERFC_C[8] * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + ERFC_C[i]) * y;
      den = (den + ERFC_D[i]) * y;
    }
    result = (num + ERFC_C[7]) / (den + ERFC_D[7]);
  } else {
    const r2 = 1 / (y * y);
    let num = ERFC_P[5] * r2;
    let den = r2;
    for (let i = 0; i < 4; i++) {
      num = (num + ERFC_P[i]) * r2;
      den = (den + ERFC_Q[i]) * r2;
    }
    result = (r2 * (num + ERFC_P[4])) / (den + ERFC_Q[4]);
    result = (ONE_OVER_SQRT_PI - result) / y;
  }
  // exp(-y^2) split as exp(-h^2) * exp(-(y-h)(y+h)) with h = y rounded down to 1/16, so the
  // rounding error of y*y does not get amplified by the exponential.
  const h = Math.trunc(y * 16) / 16;
  const del = (y - h) * (y + h);
  return Math.exp(-h * h) * Math.exp(-del) * result;
}

/** The error function. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const y = Math.abs(x);
  if (y <= 0.46875) return erfSmall(x);
  const r = 0.5 - erfcLarge(y) + 0.5;
  return x < 0 ? -r : r;
}

/** The complementary error function 1 - erf(x), accurate relative to its value for large x. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return x;
  const y = Math.abs(x);
  if (y <= 0.46875) return 1 - erfSmall(x);
  const r = erfcLarge(y);
  return x < 0 ? 2 - r : r;
}

/** Standard normal CDF, Phi(x) = P(Z <= x); accurate relative to its value for very negative x. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Standard normal upper tail, 1 - Phi(x) = P(Z > x); accurate for large x. */
export function normalSf(x: number): number {
  return 0.5 * erfc(x / Math.SQRT2);
}

const GAMMA_EPS = 1e-16;
const GAMMA_TINY = 1e-300;
const GAMMA_MAX_ITER = 100_000;

/** ln(x^a e^-x / Gamma(a)), the common prefactor of P(a, x) and Q(a, x). */
function gammaPrefactorLog(a: number, x: number): number {
  return a * Math.log(x) - x - logGamma(a);
}

// P(a, x) by its power series (Numerical Recipes 3rd ed. 6.2.5, "gser"); converges fast for
// x < a + 1.
function lowerGammaSeries(a: number, x: number): number {
  let ap = a;
  let term = 1 / a;
  let sum = term;
  for (let n = 0; n < GAMMA_MAX_ITER; n++) {
    ap += 1;
    term *= x / ap;
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * GAMMA_EPS) break;
  }
  return sum * Math.exp(gammaPrefactorLog(a, x));
}

// Q(a, x) by its continued fraction, evaluated with the modified Lentz method (Numerical Recipes
// 3rd ed. 6.2.7, "gcf"); converges fast for x >= a + 1 and keeps relative accuracy in the tail.
function upperGammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / GAMMA_TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < GAMMA_MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < GAMMA_TINY) d = GAMMA_TINY;
    c = b + an / c;
    if (Math.abs(c) < GAMMA_TINY) c = GAMMA_TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < GAMMA_EPS) break;
  }
  return Math.exp(gammaPrefactorLog(a, x)) * h;
}

/** Lower regularised incomplete gamma P(a, x) = gamma(a, x) / Gamma(a), a > 0, x >= 0. */
export function regularizedGammaP(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 0;
  if (x === Number.POSITIVE_INFINITY) return 1;
  return x < a + 1 ? lowerGammaSeries(a, x) : 1 - upperGammaContinuedFraction(a, x);
}

/**
 * Upper regularised incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a) = 1 - P(a, x), a > 0,
 * x >= 0. The chi-square survival function is Q(df / 2, chi2 / 2).
 */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  return x < a + 1 ? 1 - lowerGammaSeries(a, x) : upperGammaContinuedFraction(a, x);
}

/** Chi-square survival function P(X > x) for X ~ chi2(df). */
export function chiSquareSf(x: number, df: number): number {
  if (x <= 0) return 1;
  return regularizedGammaQ(df / 2, x / 2);
}
