/*
 * The photo pipeline's stages from the sensor's numbers to 8-bit pixels, compiled: black
 * level, defective pixels, green equalisation, white balance and lens shading; the MLRI
 * demosaic; false-colour clamp and colour matrix, noise reduction, clipping, tone curve,
 * sharpening and 8-bit output. isp/compiled.py loads this library with ctypes and says why.
 *
 * Each stage but the demosaic does what its numpy stage does, in the same float32 operations
 * in the same order, so that for finite input the two give the same bytes
 * (tests/test_isp_compiled.py checks that they do): isp/black_level.py, isp/dpc.py,
 * isp/green_eq.py, isp/white_balance.py, isp/lens_shading.py, isp.demosaic.clamp_false_colour,
 * isp.ccm.colour_correct_planar, isp.denoise.denoise_planar, isp.tone.tone_indexed,
 * isp.sharpen.luma_detail and isp.output.to_uint8_planar. (Their clips turn NaN into the
 * bound where numpy keeps it; the pipeline has no NaN to give them.) The demosaic sums its
 * windows in another order than numpy's, and agrees with it to float32 rounding.
 *
 * Build with -ffp-contract=off: a fused multiply-add rounds once where numpy rounds twice; and
 * never with -ffast-math, which reorders float arithmetic (refused below).
 *
 * Arrays are C-contiguous but for the 8-bit output, whose rows may lie further apart (a tile
 * of a wider band); planar images are (3, h, w). Loops run along rows, whose few working rows
 * stay in the CPU's caches, where numpy makes a pass over the whole tile per operation.
 * Functions return 0, or -1 when memory for their working rows runs out (and the demosaic -2
 * when its box is too near the edges); mrig_mosaic_stages returns its border, mrig_clip
 * nothing.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __FAST_MATH__
#error "isp/kernels.c must round as numpy does: build it without -ffast-math or -Ofast"
#endif

/*
 * On x86-64 each function is compiled twice, for AVX2 and for the baseline, and the loader
 * picks one for the CPU it runs on (GCC's function multi-versioning): the baseline's SSE2
 * handles four floats at a time, AVX2 eight (measured: the stages after the demosaic took
 * about 0.2 s longer on a 12 MP frame built for SSE2 than for AVX2). NEON is in every 64-bit ARM (64-bit Raspberry Pi OS), whose baseline it is; a
 * 32-bit ARM build stays scalar.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* Helpers are inlined by force: GCC does not inline a baseline function into an AVX2 version. */
static inline __attribute__((always_inline)) float clampf(float x, float lo, float hi)
{
    /* numpy's clip: max first, then min. */
    x = x > lo ? x : lo;
    return x < hi ? x : hi;
}

static inline __attribute__((always_inline)) float minf(float a, float b) { return a < b ? a : b; }
static inline __attribute__((always_inline)) float maxf(float a, float b) { return a > b ? a : b; }
/* numpy's maximum(x, 0): x when x >= 0 (so -0.0 stays -0.0), else 0. */
static inline __attribute__((always_inline)) float nonnegative(float x) { return x >= 0.0f ? x : 0.0f; }

/*
 * rgb (3, h, w) -> out (3, h - 2, w - 2): R - G and B - G of the square roots held within the
 * range of their eight neighbours' (the values the sensor did not measure follow: green at red
 * and blue sites, red and blue elsewhere), clipped to [0, 1] and squared, then through the 3x3
 * matrix (row-major). phase_y and phase_x: the row and column parity of rgb's first pixel in the
 * RGGB mosaic.
 */
VECTOR_CLONES
int mrig_clamp_correct(const float *rgb, int h, int w, int phase_y, int phase_x,
                       const float *matrix, float *out)
{
    const long plane = (long)h * w, out_plane = (long)(h - 2) * (w - 2);
    const int n = w - 2;
    float *diff = malloc(sizeof(float) * 2 * 3 * w);  /* R - G, B - G of three rows, ring */
    float *root = malloc(sizeof(float) * 3 * 3 * w);   /* square roots of three rows, ring */
    float *clamped = malloc(sizeof(float) * 3 * n);    /* R - G, B - G clamped; green */
    if (!diff || !root || !clamped) {
        free(diff);
        free(root);
        free(clamped);
        return -1;
    }
    for (int y = 0; y < h; y++) {
        float *d_r = diff + (y % 3) * w, *d_b = diff + 3 * w + (y % 3) * w;
        float *s_r = root + (y % 3) * 3 * w, *s_g = s_r + w, *s_b = s_r + 2 * w;
        const float *red = rgb + (long)y * w, *green = red + plane, *blue = red + 2 * plane;
        for (int x = 0; x < w; x++) {
            s_r[x] = sqrtf(nonnegative(red[x]));
            s_g[x] = sqrtf(nonnegative(green[x]));
            s_b[x] = sqrtf(nonnegative(blue[x]));
            d_r[x] = s_r[x] - s_g[x];
            d_b[x] = s_b[x] - s_g[x];
        }
        if (y < 2)
            continue;
        const int row = y - 1;  /* the row clamped now: rows y - 2 .. y are in the ring */
        for (int c = 0; c < 2; c++) {
            const float *ring = diff + c * 3 * w;
            const float *up = ring + ((row - 1) % 3) * w, *mid = ring + (row % 3) * w,
                        *down = ring + ((row + 1) % 3) * w;
            float *o = clamped + c * n;
            for (int x = 0; x < n; x++) {
                float lo = minf(minf(minf(up[x], up[x + 1]), minf(up[x + 2], mid[x])),
                                minf(minf(mid[x + 2], down[x]), minf(down[x + 1], down[x + 2])));
                float hi = maxf(maxf(maxf(up[x], up[x + 1]), maxf(up[x + 2], mid[x])),
                                maxf(maxf(mid[x + 2], down[x]), maxf(down[x + 1], down[x + 2])));
                o[x] = clampf(mid[x + 1], lo, hi);
            }
        }
        float *c_r = clamped, *c_b = clamped + n;
        float *g = clamped + 2 * n;
        const float *in_r = root + (row % 3) * 3 * w + 1, *in_g = in_r + w, *in_b = in_r + 2 * w;
        memcpy(g, in_g, sizeof(float) * n);
        if ((row + phase_y) % 2 == 0) {  /* a row with red sites */
            for (int x = (phase_x + 1) % 2; x < n; x += 2)
                g[x] = in_r[x] - c_r[x];
        } else {
            for (int x = phase_x % 2; x < n; x += 2)
                g[x] = in_b[x] - c_b[x];
        }
        float *o0 = out + (long)(row - 1) * n, *o1 = o0 + out_plane, *o2 = o0 + 2 * out_plane;
        const float m00 = matrix[0], m01 = matrix[1], m02 = matrix[2];
        const float m10 = matrix[3], m11 = matrix[4], m12 = matrix[5];
        const float m20 = matrix[6], m21 = matrix[7], m22 = matrix[8];
        /* The square roots of red, green and blue, clipped, in place (c_r and c_b become red's
         * and blue's): in loops of their own, as GCC 12 leaves a loop scalar ("control flow")
         * where a clipped value is used more than once. */
        for (int x = 0; x < n; x++)
            c_r[x] = clampf(g[x] + c_r[x], 0.0f, 1.0f);
        for (int x = 0; x < n; x++)
            c_b[x] = clampf(g[x] + c_b[x], 0.0f, 1.0f);
        for (int x = 0; x < n; x++)
            g[x] = clampf(g[x], 0.0f, 1.0f);
#pragma GCC ivdep  /* the three outputs are planes of their own */
        for (int x = 0; x < n; x++) {
            const float r = c_r[x] * c_r[x], gx = g[x] * g[x], b = c_b[x] * c_b[x];
            o0[x] = r * m00 + gx * m01 + b * m02;
            o1[x] = r * m10 + gx * m11 + b * m12;
            o2[x] = r * m20 + gx * m21 + b * m22;
        }
    }
    free(diff);
    free(root);
    free(clamped);
    return 0;
}

/*
 * dst (h - 2r, w - 2r) = sums of src (h, w), or of its squares, over (2r + 1)^2 windows: down
 * the columns first, then along the rows, adding in isp.denoise._box's order. down: w floats.
 * Inlined into each caller (and each of its versions): square is a constant in each, and so
 * is r in the noise reduction's (red and blue pass theirs as it comes).
 */
static inline __attribute__((always_inline)) void box_sums(const float *src, int h, int w, int r, int square, float *dst, float *down)
{
    const int rows = h - 2 * r, cols = w - 2 * r;
    for (int y = 0; y < rows; y++) {
        const float *line = src + (long)y * w;
        float *o = dst + (long)y * cols;
        if (__builtin_constant_p(r)) {
            /* Each sum in a register, one pass a direction (the loops over d unroll). */
            for (int x = 0; x < w; x++) {
                float sum = square ? line[x] * line[x] + line[x + w] * line[x + w] : line[x] + line[x + w];
                for (int d = 2; d <= 2 * r; d++) {
                    const float v = line[x + (long)d * w];
                    sum += square ? v * v : v;
                }
                down[x] = sum;
            }
            for (int x = 0; x < cols; x++) {
                float sum = down[x] + down[x + 1];
                for (int d = 2; d <= 2 * r; d++)
                    sum += down[x + d];
                o[x] = sum;
            }
            continue;
        }
        /* r known only when it runs: a pass a term (a loop over d inside would not be vector
         * code). The first two terms are added as the sum starts, r >= 1. */
        const float *next = line + w;
        if (square)
            for (int x = 0; x < w; x++)
                down[x] = line[x] * line[x] + next[x] * next[x];
        else
            for (int x = 0; x < w; x++)
                down[x] = line[x] + next[x];
        for (int d = 2; d <= 2 * r; d++) {
            const float *row = src + (long)(y + d) * w;
            if (square)
                for (int x = 0; x < w; x++)
                    down[x] += row[x] * row[x];
            else
                for (int x = 0; x < w; x++)
                    down[x] += row[x];
        }
        for (int x = 0; x < cols; x++)
            o[x] = down[x] + down[x + 1];
        for (int d = 2; d <= 2 * r; d++)
            for (int x = 0; x < cols; x++)
                o[x] += down[x + d];
    }
}

/*
 * isp.denoise.denoise_planar with luma radius 1 and chroma radius 2: rgb (3, h, w) -> out
 * (3, h - 4, w - 4). k: the noise variances' (a, b) times their strengths, for luma, R - Y and
 * B - Y, then the three luma weights.
 */
VECTOR_CLONES
int mrig_denoise(const float *rgb, int h, int w, const double *k, float *out)
{
    const long plane = (long)h * w, inner = (long)(h - 2) * (w - 2), core = (long)(h - 4) * (w - 4);
    const float kr = (float)k[6], kg = (float)k[7], kb = (float)k[8];
    const float a_y = (float)k[0], b_y = (float)k[1];
    const float ninth = (float)(1.0 / 9.0), twenty_fifth = (float)(1.0 / 25.0);
    float *luma = malloc(sizeof(float) * plane);
    float *diff = malloc(sizeof(float) * plane);
    float *mean = malloc(sizeof(float) * inner), *power = malloc(sizeof(float) * inner);
    float *gain_sum = malloc(sizeof(float) * core), *offset_sum = malloc(sizeof(float) * core);
    float *level = malloc(sizeof(float) * core);
    float *c_mean = malloc(sizeof(float) * core), *c_power = malloc(sizeof(float) * core);
    float *down = malloc(sizeof(float) * w);
    int status = -1;
    if (!luma || !diff || !mean || !power || !gain_sum || !offset_sum || !level || !c_mean ||
        !c_power || !down)
        goto done;
    for (long i = 0; i < plane; i++)
        luma[i] = kr * rgb[i] + kg * rgb[i + plane] + kb * rgb[i + 2 * plane];
    /* Luma: the self-guided filter's coefficients over 3 x 3, then their 3 x 3 means. */
    box_sums(luma, h, w, 1, 0, mean, down);
    box_sums(luma, h, w, 1, 1, power, down);
    for (long i = 0; i < inner; i++) {
        const float m = mean[i] * ninth;
        const float var = maxf(power[i] * ninth - m * m, 0.0f);
        const float eps = maxf(m, 0.0f) * a_y + b_y;
        const float gain = var / (var + eps);
        mean[i] = gain;
        power[i] = m * (1.0f - gain);
    }
    box_sums(mean, h - 2, w - 2, 1, 0, gain_sum, down);
    box_sums(power, h - 2, w - 2, 1, 0, offset_sum, down);
    /* Chroma: local Wiener shrinkage of R - Y and B - Y towards their 5 x 5 means. */
    box_sums(luma, h, w, 2, 0, level, down);
    for (int channel = 0; channel <= 2; channel += 2) {
        const float a_c = (float)k[channel == 0 ? 2 : 4], b_c = (float)k[channel == 0 ? 3 : 5];
        const float *src = rgb + channel * plane;
        for (long i = 0; i < plane; i++)
            diff[i] = src[i] - luma[i];
        box_sums(diff, h, w, 2, 0, c_mean, down);
        box_sums(diff, h, w, 2, 1, c_power, down);
        for (int y = 0; y < h - 4; y++) {
            const long row = (long)y * (w - 4);
            const float *lu = luma + (long)(y + 2) * w + 2, *d = diff + (long)(y + 2) * w + 2;
            float *o = out + channel * core + row;
            for (int x = 0; x < w - 4; x++) {
                const float y_out = gain_sum[row + x] * ninth * lu[x] + offset_sum[row + x] * ninth;
                const float mc = c_mean[row + x] * twenty_fifth;
                const float var_c = c_power[row + x] * twenty_fifth - mc * mc;
                const float noise = maxf(level[row + x] * twenty_fifth, 0.0f) * a_c + b_c;
                const float keep = clampf(var_c / (maxf(var_c, 0.0f) + noise + 1e-12f), 0.0f, 1.0f);
                o[x] = y_out + mc + keep * (d[x] - mc);
            }
        }
    }
    const float inv_kg = (float)(1.0 / k[7]);
    for (int y = 0; y < h - 4; y++) {
        const long row = (long)y * (w - 4);
        const float *lu = luma + (long)(y + 2) * w + 2;
        const float *red = out + row, *blue = out + 2 * core + row;
        float *green = out + core + row;
        for (int x = 0; x < w - 4; x++) {
            const float y_out = gain_sum[row + x] * ninth * lu[x] + offset_sum[row + x] * ninth;
            green[x] = (y_out - kr * red[x] - kb * blue[x]) * inv_kg;
        }
    }
    status = 0;
done:
    free(luma);
    free(diff);
    free(mean);
    free(power);
    free(gain_sum);
    free(offset_sum);
    free(level);
    free(c_mean);
    free(c_power);
    free(down);
    return status;
}

/* x[0 .. n) clipped to [lo, hi] in place. */
VECTOR_CLONES
void mrig_clip(float *x, long n, float lo, float hi)
{
    for (long i = 0; i < n; i++)
        x[i] = clampf(x[i], lo, hi);
}

/*
 * rgb (3, h, w), linear in the tone table's index units, through table (size entries; a
 * negative index reads from the end, as numpy's take with mode="wrap"), plus the luma detail
 * of the result when sharpen is set (cored at threshold, times strength, capped at limit, in
 * 8-bit levels; luma weights weights[0..2]), rounded and clipped into out, uint8
 * (h - 2, w - 2, 3).
 */
VECTOR_CLONES
int mrig_tone_sharpen_8bit(const float *rgb, int h, int w, const float *table, long size,
                           int sharpen, float threshold, float strength, float limit,
                           const double *weights, uint8_t *out, long out_stride)
{
    const long plane = (long)h * w;
    const int n = w - 2;
    float *levels = malloc(sizeof(float) * 3 * plane);
    float *luma = malloc(sizeof(float) * 3 * w);
    float *detail = malloc(sizeof(float) * n);
    if (!levels || !luma || !detail) {
        free(levels);
        free(luma);
        free(detail);
        return -1;
    }
    /* The index, then the lookup, in loops of their own over a block at a time: the first is
     * vector code, the second a load and a store a sample (GCC makes no vector gathers for
     * generic x86-64). */
    const int32_t last = (int32_t)(size - 1), wrap = (int32_t)size;
    for (long start = 0; start < 3 * plane; start += 1024) {
        int32_t index[1024];
        const long count = 3 * plane - start < 1024 ? 3 * plane - start : 1024;
        const float *src = rgb + start;
        for (long i = 0; i < count; i++) {
            /* Truncated, as numpy's cast, where that is defined in C; beyond, the table's end
             * (NaN its start, as numpy's cast gives on x86-64). The pipeline's clips keep the
             * index in [-size, size); held there, never outside the table, whatever comes in. */
            const float v = src[i];
            const int defined = v > (float)-wrap - 1.0f && v < (float)wrap;
            int32_t at = defined ? (int32_t)v : v >= (float)wrap ? last : 0;
            at = at < 0 ? at + wrap : at;
            index[i] = at < 0 ? 0 : at > last ? last : at;
        }
        float *dst = levels + start;
        for (long i = 0; i < count; i++)
            dst[i] = table[index[i]];
    }
    const float kr = (float)weights[0], kg = (float)weights[1], kb = (float)weights[2];
    for (int y = 1; y < h - 1; y++) {
        if (sharpen) {
            for (int v = 0; v < 3; v++) {
                const float *r = levels + (long)(y - 1 + v) * w, *g = r + plane, *b = r + 2 * plane;
                float *o = luma + v * w;
                for (int x = 0; x < w; x++)
                    o[x] = r[x] * kr + g[x] * kg + b[x] * kb;
            }
            float *up = luma;
            const float *mid = luma + w, *down = luma + 2 * w;
            for (int x = 0; x < w; x++)  /* [1 2 1] down the columns */
                up[x] = up[x] + down[x] + mid[x] * 2.0f;
            for (int x = 0; x < n; x++) {
                const float blur = (up[x] + up[x + 2] + up[x + 1] * 2.0f) * (float)(-1.0 / 16.0);
                float d = blur + mid[x + 1];
                d = (d - clampf(d, -threshold, threshold)) * strength;
                detail[x] = clampf(d, -limit, limit) + 0.5f;
            }
        } else {
            for (int x = 0; x < n; x++)
                detail[x] = 0.5f;
        }
        uint8_t *o = out + (long)(y - 1) * out_stride;
        const float *red = levels + (long)y * w + 1, *green = red + plane, *blue = green + plane;
#pragma GCC ivdep  /* out is the caller's, not one of these rows */
        for (int x = 0; x < n; x++) {
            o[3 * x] = (uint8_t)clampf(red[x] + detail[x], 0.0f, 255.5f);
            o[3 * x + 1] = (uint8_t)clampf(green[x] + detail[x], 0.0f, 255.5f);
            o[3 * x + 2] = (uint8_t)clampf(blue[x] + detail[x], 0.0f, 255.5f);
        }
    }
    free(levels);
    free(luma);
    free(detail);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/*
 * The mosaic stages, from the sensor's numbers to the demosaic's input, each as its numpy
 * stage does it (the same bytes): black level (isp/black_level.py), defective pixels
 * (isp/dpc.py), green equalisation (isp/green_eq.py), white balance (isp/white_balance.py)
 * and lens shading (isp/lens_shading.py).
 *
 * raw: an RGGB tile (h x w uint16, both even). out: h x w float32, known over the rows and
 * columns [m, h - m) with m = 2 for each of defective pixels and green equalisation that is
 * on (params[6], params[7]); m is returned, or -1 when out of memory. params: black,
 * 1 / (white - black), the defective-pixel threshold and slope, green equalisation's offset
 * and slope, the two switches, then the red, green and blue gains. scratch: h x w floats.
 *
 * Lens shading (isp.lens_shading.lens_shading_planes), or none when across is NULL: across and step
 * (3 x cells x frame_w) are the gain grid interpolated along its rows of cells to every frame
 * column, and the steps to the next row of cells; tile row y is frame row rows_cell[y]'s cell
 * and rows_t[y] of the way to the next, tile column x is frame column cols[x]. A pixel's gain
 * is rows_t * step + across at its colour, cell and column.
 */
VECTOR_CLONES
int mrig_mosaic_stages(const uint16_t *raw, int h, int w, const float *params,
                       const float *across, const float *step, int cells, int frame_w,
                       const int *rows_cell, const float *rows_t, const int *cols,
                       float *scratch, float *out)
{
    const float black = params[0], scale = params[1], dpc_threshold = params[2],
                dpc_slope = params[3], geq_offset = params[4], geq_slope = params[5];
    const int dpc = params[6] != 0.0f, geq = params[7] != 0.0f;
    const float gains[2][2] = { { params[8], params[9] }, { params[9], params[10] } };
    const long size = (long)h * w;
    float *x = dpc ? scratch : out;
    for (long i = 0; i < size; i++)
        x[i] = ((float)raw[i] - black) * scale;
    int m = 0;
    if (dpc) {
        /* Each sample within its four same-colour neighbours' range (two pixels away),
         * widened by threshold + slope x their spread. */
        m = 2;
        for (int y = 2; y < h - 2; y++) {
            const float *c = x + (long)y * w, *up = c - 2 * w, *down = c + 2 * w;
            float *o = out + (long)y * w;
            for (int i = 2; i < w - 2; i++) {
                const float hi = maxf(maxf(up[i], down[i]), maxf(c[i - 2], c[i + 2]));
                const float lo = minf(minf(up[i], down[i]), minf(c[i - 2], c[i + 2]));
                const float margin = (hi - lo) * dpc_slope + dpc_threshold;
                o[i] = clampf(c[i], lo - margin, hi + margin);
            }
        }
    }
    if (geq) {
        /* Each green halfway to the mean of its four diagonal neighbours (the other green)
         * where they differ by less than offset + slope x its level; both from the greens
         * before this stage. */
        const float *g = out;
        float *o = scratch;
        const int top = m + 2, bottom = h - m - 2;
        for (int y = top; y < bottom; y++) {
            const float *c = g + (long)y * w, *up = c - w, *down = c + w;
            float *r = o + (long)y * w;
            for (int i = top + (y + 1) % 2; i < w - m - 2; i += 2) {  /* green sites */
                const float mean = ((up[i - 1] + down[i - 1]) + (up[i + 1] + down[i + 1])) * 0.25f;
                float diff = mean - c[i];
                const float limit = (c[i] < 0.0f ? -c[i] : c[i]) * geq_slope + geq_offset;
                const float near = (diff < 0.0f ? -diff : diff) < limit ? 1.0f : 0.0f;
                diff *= near;
                diff *= 0.5f;
                r[i] = diff + c[i];
            }
        }
        for (int y = top; y < bottom; y++) {
            float *c = out + (long)y * w;
            const float *r = scratch + (long)y * w;
            for (int i = top + (y + 1) % 2; i < w - m - 2; i += 2)
                c[i] = r[i];
        }
        m += 2;
    }
    /* The border the stages could not reach: zero, not whatever the memory held. */
    for (int y = 0; y < h; y++) {
        float *c = out + (long)y * w;
        if (y < m || y >= h - m) {
            memset(c, 0, sizeof(float) * w);
        } else {
            memset(c, 0, sizeof(float) * m);
            memset(c + w - m, 0, sizeof(float) * m);
        }
    }
    /* White balance and lens shading, each clipped to [0, 1]. (numpy skips a gain of 1;
     * times 1 is exact, so here every sample is multiplied.) */
    float *gain_rows = scratch;  /* the gains along a red row, then along a blue row */
    float *picked = across ? malloc(sizeof(float) * 4 * w) : NULL;
    int picked_cell[2] = { -1, -1 };
    if (across && !picked)
        return -1;
    for (int i = 0; i < w; i++) {
        gain_rows[i] = gains[0][i % 2];
        gain_rows[w + i] = gains[1][i % 2];
    }
    for (int y = m; y < h - m; y++) {
        float *c = out + (long)y * w;
        const float *gain = gain_rows + (y % 2) * w;
        for (int i = m; i < w - m; i++)
            c[i] = clampf(c[i] * gain[i], 0.0f, 1.0f);
        if (across) {
            /* The row's cell's grid values at the tile's columns, in the colours along the
             * row (red and green, or green and blue): picked out when the cell changes, for
             * rows of either parity, then a loop of vector code a row. */
            const int parity = y % 2, cell = rows_cell[y];
            float *pick_step = picked + parity * 2 * w, *pick_across = pick_step + w;
            if (picked_cell[parity] != cell) {
                picked_cell[parity] = cell;
                for (int i = m; i < w - m; i++) {
                    const long at = ((long)(parity + i % 2) * cells + cell) * frame_w + cols[i];
                    pick_step[i] = step[at];
                    pick_across[i] = across[at];
                }
            }
            const float t = rows_t[y];
            for (int i = m; i < w - m; i++) {
                float s = t * pick_step[i];
                s = s + pick_across[i];
                c[i] = clampf(s * c[i], 0.0f, 1.0f);
            }
        }
    }
    free(picked);
    return m;
}

/*
 * 12-bit samples packed two to three bytes, big-endian (TIFF's FillOrder 1, as isp.tiff
 * reads them in numpy): pairs pairs of them into out.
 */
VECTOR_CLONES
void mrig_unpack_12(const uint8_t *packed, long pairs, uint16_t *out)
{
    for (long i = 0; i < pairs; i++) {
        const uint16_t b0 = packed[3 * i], b1 = packed[3 * i + 1], b2 = packed[3 * i + 2];
        out[2 * i] = (uint16_t)(b0 << 4 | b1 >> 4);
        out[2 * i + 1] = (uint16_t)((b1 & 0x0F) << 8 | b2);
    }
}

/* The interface's version: isp/compiled.py uses the library only if it expects this one. */
int mrig_kernels_version(void) { return 7; }

/* ---------------------------------------------------------------------------------------- */
/*
 * The MLRI demosaic (isp/demosaic_ri.py, whose docstring explains the method; the numpy code
 * stays the reference): minimised-Laplacian residual interpolation of green along both
 * directions, combined with GBTF's weights, then red and blue guided by green.
 *
 * The numpy code works on the four colour sub-lattices; here a direction is worked "down the
 * columns": every column of the tile is one line, every row a vector of all lines' samples at
 * one position, so each step is a loop along a row that the compiler makes vector code of,
 * and the window sums slide (one add and one subtract a row) where numpy's double up. The
 * horizontal direction runs on the transposed tile. Sums are float32 in another order than
 * numpy's, so the two agree to float32 rounding, not bit for bit (tests/test_isp_compiled.py).
 */

/* Lattice offsets (lo, hi) of the phase-p_in samples within k pixels of a phase-p_out sample
 * along one axis (isp.grid.offsets). */
static inline void lattice_offsets(int p_out, int p_in, int k, int *lo, int *hi)
{
    *lo = -((p_in - p_out + k) / 2);
    *hi = (p_out - p_in + k) / 2;
}

/*
 * dst[j] = sum of src[j + lo .. j + hi] for j in [j0, j1); rows of n floats. Each window is
 * summed afresh, in the same order wherever it lies: a pixel's value must not depend on where
 * its tile starts (a sliding sum's rounding would), so that tiles give the whole frame's bytes.
 */
static inline __attribute__((always_inline)) void window_rows(const float *src, long n, int j0, int j1, int lo, int hi, float *dst)
{
    for (int j = j0; j < j1; j++) {
        float *cur = dst + j * n;
        const float *first = src + (j + lo) * n, *second = first + n;
        if (hi == lo) {
            memcpy(cur, first, sizeof(float) * n);
            continue;
        }
        for (long i = 0; i < n; i++)
            cur[i] = first[i] + second[i];
        for (int d = lo + 2; d <= hi; d++) {
            const float *s = src + (j + d) * n;
            for (long i = 0; i < n; i++)
                cur[i] += s[i];
        }
    }
}

struct range { int lo, hi; };  /* rows [lo, hi) of a half-lattice known */

static inline struct range shrink(struct range r, int lo, int hi)
{
    /* The rows j where rows j + lo .. j + hi all lie in r. */
    struct range out = { r.lo - lo, r.hi - hi };
    return out;
}

static inline struct range meet(struct range a, struct range b)
{
    struct range out = { a.lo > b.lo ? a.lo : b.lo, a.hi < b.hi ? a.hi : b.hi };
    return out;
}

/*
 * Two window sums of src (rows of n floats, known over rows r) at once: same[j] over rows
 * j + sl .. j + sh (an odd number of them), summed pairwise (pair[j] = src[j] + src[j + 1]
 * first: 3 adds for 5 rows, not 4); cross[j] over j + cl .. j + ch, which is that window and
 * one row more at either end where it can be (one add), else summed on its own. Every sum is
 * made in the same order wherever its window lies, so tiles give the whole frame's values.
 * Returns the rows of cross known; same is known over shrink(r, sl, sh).
 */
static inline __attribute__((always_inline)) struct range two_windows(
    const float *src, long n, struct range r, int sl, int sh, int cl, int ch, float *same, float *cross, float *pair)
{
    const struct range rs = shrink(r, sl, sh), rc = shrink(r, cl, ch);
    for (int j = r.lo; j < r.hi - 1; j++) {
        const float *a = src + j * n, *b = a + n;
        float *o = pair + j * n;
        for (long i = 0; i < n; i++)
            o[i] = a[i] + b[i];
    }
    const int pairs = (sh - sl) / 2;
    for (int j = rs.lo; j < rs.hi; j++) {
        float *o = same + j * n;
        const float *last = src + (j + sh) * n;
        if (pairs == 0) {  /* a window of one row */
            memcpy(o, last, sizeof(float) * n);
            continue;
        }
        const float *first = pair + (j + sl) * n;
        if (pairs == 1) {
            for (long i = 0; i < n; i++)
                o[i] = first[i] + last[i];
            continue;
        }
        const float *second = first + 2 * n;
        for (long i = 0; i < n; i++)
            o[i] = first[i] + second[i];
        for (int t = 2; t < pairs; t++) {
            const float *p = pair + (j + sl + 2 * t) * n;
            for (long i = 0; i < n; i++)
                o[i] += p[i];
        }
        for (long i = 0; i < n; i++)
            o[i] += last[i];
    }
    const int extra = cl == sl - 1 && ch == sh ? cl : cl == sl && ch == sh + 1 ? ch : 0;
    if (extra != 0) {
        for (int j = rc.lo; j < rc.hi; j++) {
            const float *w = same + j * n, *e = src + (j + extra) * n;
            float *o = cross + j * n;
            for (long i = 0; i < n; i++)
                o[i] = w[i] + e[i];
        }
    } else {
        window_rows(src, n, rc.lo, rc.hi, cl, ch, cross);
    }
    return rc;
}

/*
 * MLRI estimate, along the columns, of the colour x (rows at pixel rows 2j + px) at y's rows
 * (2j + 1 - px), into est (half rows of n). Returns the rows of est known. s: 11 scratch
 * arrays of half * n floats.
 */
VECTOR_CLONES
static struct range estimate(const float *x, const float *y, int half, long n, int px, int k,
                             float eps, float *est, float *s)
{
    const long size = (long)half * n;
    float *guide = s, *p = s + size, *q = s + 2 * size, *a_x = s + 3 * size, *b_x = s + 4 * size;
    float *a_y = s + 5 * size, *b_y = s + 6 * size, *t1 = s + 7 * size, *t2 = s + 8 * size;
    float *res = s + 9 * size, *pair = s + 10 * size;
    const int py = 1 - px;
    int lo, hi;
    struct range all = { 0, half };
    lattice_offsets(px, py, 1, &lo, &hi);
    struct range g = shrink(all, lo, hi);
    for (int j = g.lo; j < g.hi; j++) {
        const float *y0 = y + (j + lo) * n, *y1 = y + (j + hi) * n;
        float *o = guide + j * n;
        for (long i = 0; i < n; i++)
            o[i] = 0.5f * (y0[i] + y1[i]);
    }
    struct range lap = shrink(g, -1, 1);
    for (int j = lap.lo; j < lap.hi; j++) {
        const float *g0 = guide + (j - 1) * n, *g1 = guide + j * n, *g2 = guide + (j + 1) * n;
        const float *x0 = x + (j - 1) * n, *x1 = x + j * n, *x2 = x + (j + 1) * n;
        float *po = p + j * n, *qo = q + j * n;
#pragma GCC ivdep  /* po and qo are rows of arrays of their own (GCC checks at most 10 pairs) */
        for (long i = 0; i < n; i++) {
            const float lap_i = 2.0f * g1[i] - g0[i] - g2[i];
            const float lap_x = 2.0f * x1[i] - x0[i] - x2[i];
            po[i] = lap_x * lap_i + eps;
            qo[i] = lap_i * lap_i + eps;
        }
    }
    /* Windows over x's samples: centred on x's rows (sl .. sh), and on y's (cl .. ch); and
     * over y's centres seen from x's rows (yl .. yh). */
    int sl, sh, cl, ch, yl, yh;
    lattice_offsets(px, px, k, &sl, &sh);
    lattice_offsets(py, px, k, &cl, &ch);
    lattice_offsets(px, py, k, &yl, &yh);
    /* The local linear model (a, b) in the windows centred on x's rows (a_x, b_x) and on y's
     * (a_y, b_y): a = sum(p) / sum(q), b = (sum(x) - a sum(guide)) / samples. */
    const struct range m_x = shrink(lap, sl, sh);
    const struct range m_y = two_windows(p, n, lap, sl, sh, cl, ch, a_x, a_y, pair);
    two_windows(q, n, lap, sl, sh, cl, ch, t1, t2, pair);
    two_windows(x, n, lap, sl, sh, cl, ch, b_x, b_y, pair);
    const float inv_x = 1.0f / (float)(sh - sl + 1), inv_y = 1.0f / (float)(ch - cl + 1);
    for (long i = m_x.lo * n; i < m_x.hi * n; i++)
        a_x[i] /= t1[i];
    for (long i = m_y.lo * n; i < m_y.hi * n; i++)
        a_y[i] /= t2[i];
    two_windows(guide, n, lap, sl, sh, cl, ch, t1, t2, pair);
    for (long i = m_x.lo * n; i < m_x.hi * n; i++)
        b_x[i] = (b_x[i] - a_x[i] * t1[i]) * inv_x;
    for (long i = m_y.lo * n; i < m_y.hi * n; i++)
        b_y[i] = (b_y[i] - a_y[i] * t2[i]) * inv_y;
    /* Every window's model over a row, summed and applied to the row's guide: the tentative
     * estimate at x's rows (res: the residual there) and at y's (est). */
    const struct range r_x = meet(meet(shrink(m_x, sl, sh), shrink(m_y, yl, yh)), g);
    const struct range r_y = meet(shrink(m_x, cl, ch), shrink(m_y, sl, sh));
    const float scale = 1.0f / (float)(2 * k + 1);
    two_windows(a_x, n, m_x, sl, sh, cl, ch, p, q, pair);     /* at x's rows, at y's */
    two_windows(a_y, n, m_y, sl, sh, yl, yh, t2, t1, pair);   /* at y's rows, at x's */
    for (long i = r_x.lo * n; i < r_x.hi * n; i++)
        res[i] = (p[i] + t1[i]) * guide[i];
    for (long i = r_y.lo * n; i < r_y.hi * n; i++)
        est[i] = (q[i] + t2[i]) * y[i];
    two_windows(b_x, n, m_x, sl, sh, cl, ch, p, q, pair);
    two_windows(b_y, n, m_y, sl, sh, yl, yh, t2, t1, pair);
    for (long i = r_x.lo * n; i < r_x.hi * n; i++)
        res[i] = x[i] - (res[i] + p[i] + t1[i]) * scale;
    for (long i = r_y.lo * n; i < r_y.hi * n; i++)
        est[i] = (est[i] + q[i] + t2[i]) * scale;
    /* The estimate: the tentative one plus the residual interpolated from x's rows around. */
    lattice_offsets(py, px, 1, &lo, &hi);
    const struct range out = meet(shrink(r_x, lo, hi), r_y);
    for (int j = out.lo; j < out.hi; j++) {
        const float *r0 = res + (j + lo) * n, *r1 = res + (j + hi) * n;
        float *e = est + j * n;
        for (long i = 0; i < n; i++)
            e[i] += 0.5f * (r0[i] + r1[i]);
    }
    return out;
}

/*
 * GBTF's sums down the columns of a (rows x n, rows even, row 0 a red or green-on-red row) at
 * every pixel of rows [r0, r1), columns [2, n - 2): num, the inverse squared gradient energy
 * of the colour difference north and south of a pixel times the one-sided average of the
 * difference that way, and den, the two weights; meaningful at red and blue sites (where the
 * difference is green minus red, and blue minus green). Returns 0, -1 when out of memory, or
 * -2 when rows [r0, r1) are too near the ends.
 */
VECTOR_CLONES
static int gbtf_down(const float *a, int rows, long n, int r0, int r1, int k, float eps,
                     float *num, float *den)
{
    /* The colour difference along the lines, a strip of lines at a time: the estimates' dozen
     * working arrays of a strip stay in the CPU's caches. */
    enum { STRIP = 128 };
    const int half = rows / 2;
    const long size = (long)half * STRIP;
    float *even = malloc(sizeof(float) * size * 15);
    float *diff = malloc(sizeof(float) * rows * n * 3);
    int status = -1;
    if (!even || !diff)
        goto done;
    float *odd = even + size, *odd_at_even = even + 2 * size, *even_at_odd = even + 3 * size;
    float *scratch = even + 4 * size;
    status = -2;
    for (long c = 0; c < n; c += STRIP) {
        const long lines = n - c < STRIP ? n - c : STRIP;
        for (int j = 0; j < half; j++) {
            memcpy(even + j * lines, a + 2 * j * n + c, sizeof(float) * lines);
            memcpy(odd + j * lines, a + (2 * j + 1) * n + c, sizeof(float) * lines);
        }
        struct range at_even = estimate(odd, even, half, lines, 1, k, eps, odd_at_even, scratch);
        struct range at_odd = estimate(even, odd, half, lines, 0, k, eps, even_at_odd, scratch);
        const int d_lo = 2 * at_even.lo > 2 * at_odd.lo + 1 ? 2 * at_even.lo : 2 * at_odd.lo + 1;
        const int d_hi = 2 * at_even.hi < 2 * at_odd.hi + 1 ? 2 * at_even.hi : 2 * at_odd.hi + 1;
        if (r0 - 5 < d_lo || r1 + 5 > d_hi)
            goto done;
        for (int r = r0 - 5; r < r1 + 5; r++) {
            const long j = (r / 2) * lines;
            float *d = diff + r * n + c;
            if (r % 2 == 0)  /* the odd rows' colour minus the even rows' */
                for (long i = 0; i < lines; i++)
                    d[i] = odd_at_even[j + i] - even[j + i];
            else
                for (long i = 0; i < lines; i++)
                    d[i] = odd[j + i] - even_at_odd[j + i];
        }
    }
    float *grad = diff + rows * n, *energy = diff + 2 * rows * n;
    for (int r = r0 - 4; r < r1 + 4; r++) {
        const float *up = diff + (r - 1) * n, *down = diff + (r + 1) * n;
        float *g = grad + r * n;
        for (long i = 0; i < n; i++) {
            const float t = down[i] - up[i];
            g[i] = t < 0.0f ? -t : t;
        }
    }
    /* Energy: the gradients summed over 5 x 5 pixels; its weight 1 / (energy^2 + 1e-10). */
    window_rows(grad, n, r0 - 2, r1 + 2, -2, 2, energy);
    for (int r = r0 - 2; r < r1 + 2; r++) {
        float *e = energy + r * n, *w = grad + r * n;  /* grad's rows are free again */
        for (long i = 2; i < n - 2; i++) {
            const float t = e[i - 2] + e[i - 1] + e[i] + e[i + 1] + e[i + 2];
            w[i] = 1.0f / (t * t + 1e-10f);
        }
    }
    for (int r = r0; r < r1; r++) {
        const float *w_north = grad + (r - 2) * n, *w_south = grad + (r + 2) * n;
        const float *d0 = diff + r * n;
        const float *n1 = d0 - n, *n2 = d0 - 2 * n, *n3 = d0 - 3 * n;
        const float *s1 = d0 + n, *s2 = d0 + 2 * n, *s3 = d0 + 3 * n;
        float *o_num = num + r * n, *o_den = den + r * n;
        for (long i = 2; i < n - 2; i++) {
            const float centre = 0.56f * d0[i];
            const float north = centre + 0.35f * n1[i] + 0.08f * n2[i] + 0.01f * n3[i];
            const float south = centre + 0.35f * s1[i] + 0.08f * s2[i] + 0.01f * s3[i];
            o_num[i] = w_north[i] * north + w_south[i] * south;
            o_den[i] = w_north[i] + w_south[i];
        }
    }
    status = 0;
done:
    free(even);
    free(diff);
    return status;
}

/*
 * o[x] = src[x] + src[x + 1] + ... + src[x + span - 1] for x in [0, width), on a row that is
 * zero at every other pixel, span odd: the sum of pairs (each one sample, the other zero, so
 * pair[x] = src[x] + src[x + 1] is exact) and the last pixel, in the same order as one by one.
 * pair: width + span floats.
 */
static inline __attribute__((always_inline)) void sum_along(const float *src, long width, int span,
                                                            float *o, float *pair)
{
    const int pairs = span / 2;
    for (long x = 0; x < width + span - 2; x++)
        pair[x] = src[x] + src[x + 1];
    const float *last = src + span - 1;
    if (pairs == 1) {
        for (long x = 0; x < width; x++)
            o[x] = pair[x] + last[x];
        return;
    }
    for (long x = 0; x < width; x++)
        o[x] = pair[x] + pair[x + 2];
    for (int t = 2; t < pairs; t++)
        for (long x = 0; x < width; x++)
            o[x] += pair[x + 2 * t];
    for (long x = 0; x < width; x++)
        o[x] += last[x];
}

/*
 * The colour sampled at sites (sy, sx) over the box [r0, r1) x [c0, c1), by MLRI guided by
 * green (rows of w, known around the box), into out (rows x cols). The window sums over the
 * colour's samples are box sums of full-resolution fields that are zero where it was not
 * sampled: twice numpy's arithmetic on the sub-lattice, but every loop runs along a row.
 * Returns 0, or -1 when out of memory.
 */
VECTOR_CLONES
static int red_or_blue(const float *m, const float *green, long w, int sy, int sx, int k,
                       float eps, int r0, int r1, int c0, int c1, float *out)
{
    /* The local model is needed over the box and k + 1 around it (the tentative estimate's
     * window, and the residual's one pixel); its windows reach k further. */
    const int ra0 = r0 - k - 1, ra1 = r1 + k + 1, ca0 = c0 - k - 1, ca1 = c1 + k + 1;
    const int fr0 = ra0 - k, fc0 = ca0 - k;
    const long ah = ra1 - ra0, aw = ca1 - ca0, fh = ah + 2 * k, fw = aw + 2 * k;
    const long th = r1 - r0 + 2, tw = c1 - c0 + 2;
    const int span = 2 * k + 1;
    float *fields = malloc(sizeof(float) * 4 * fh * fw);  /* rows without samples: never read */
    float *along = malloc(sizeof(float) * 4 * fh * aw);
    float *sums = malloc(sizeof(float) * 4 * fh * aw);
    float *inv = malloc(sizeof(float) * 2 * aw);
    float *tent = malloc(sizeof(float) * th * tw);
    float *pair = malloc(sizeof(float) * (aw + span));
    int status = -1;
    if (!fields || !along || !sums || !inv || !tent || !pair)
        goto done;
    /* Laplacian products, the sample and the guide at the colour's sites, zero elsewhere. */
    for (int y = fr0 + (sy + fr0) % 2; y < fr0 + fh; y += 2) {
        const float *g = green + y * w, *gu = g - 2 * w, *gd = g + 2 * w;
        const float *v = m + y * w, *vu = v - 2 * w, *vd = v + 2 * w;
        float *fp = fields + (y - fr0) * fw, *fq = fp + fh * fw, *fv = fq + fh * fw, *fg = fv + fh * fw;
        memset(fp, 0, sizeof(float) * fw);
        memset(fq, 0, sizeof(float) * fw);
        memset(fv, 0, sizeof(float) * fw);
        memset(fg, 0, sizeof(float) * fw);
        for (int x = fc0 + (sx + fc0) % 2; x < fc0 + fw; x += 2) {
            const float lap_i = 4.0f * g[x] - gu[x] - gd[x] - g[x - 2] - g[x + 2];
            const float lap_p = 4.0f * v[x] - vu[x] - vd[x] - v[x - 2] - v[x + 2];
            fp[x - fc0] = lap_p * lap_i + eps;
            fq[x - fc0] = lap_i * lap_i + eps;
            fv[x - fc0] = v[x];
            fg[x - fc0] = g[x];
        }
    }
    /* Their sums over (2k + 1)^2 windows centred on every pixel of the model's area: along
     * the rows, then down. Rows without samples are zero in every field, and stay so along
     * the rows; down the columns, only the window's rows with samples are added. */
    for (int f = 0; f < 4; f++) {
        for (long y = (sy + fr0) % 2; y < fh; y += 2)
            sum_along(fields + (f * fh + y) * fw, aw, span, along + (f * fh + y) * aw, pair);
        for (long y = 0; y < ah; y++) {
            float *o = sums + (f * fh + y + k) * aw;
            const long first = y + (sy + fr0 + y) % 2;  /* the window's first row with samples */
            const float *a = along + (f * fh + first) * aw, *b = a + 2 * aw;
            if (first + 2 < y + span) {  /* two rows with samples or more */
                for (long x = 0; x < aw; x++)
                    o[x] = a[x] + b[x];
            } else {
                memcpy(o, a, sizeof(float) * aw);
            }
            for (long v = first + 4; v < y + span; v += 2) {
                const float *src = along + (f * fh + v) * aw;
                for (long x = 0; x < aw; x++)
                    o[x] += src[x];
            }
        }
    }
    /* The model: a = sum(p) / sum(q), b = (sum(sample) - a sum(guide)) / samples. */
    float *model = fields;  /* 2 x ah x aw: fields are read no more */
    for (int parity = 0; parity < 2; parity++) {  /* 1 / samples, by the window's centre */
        int lo, hi;
        lattice_offsets(parity, sy, k, &lo, &hi);
        for (long x = 0; x < aw; x++) {
            int clo, chi;
            lattice_offsets((ca0 + (int)x) % 2, sx, k, &clo, &chi);
            inv[parity * aw + x] = 1.0f / (float)((hi - lo + 1) * (chi - clo + 1));
        }
    }
    for (long y = 0; y < ah; y++) {
        const float *inv_row = inv + ((ra0 + y) % 2) * aw;
        const float *sp = sums + (y + k) * aw, *sq = sp + fh * aw, *sv = sq + fh * aw, *sg = sv + fh * aw;
        float *ma = model + y * aw, *mb = model + (ah + y) * aw;
        for (long x = 0; x < aw; x++) {
            const float slope = sp[x] / sq[x];
            ma[x] = slope;
            mb[x] = (sv[x] - sg[x] * slope) * inv_row[x];
        }
    }
    /* Every window's model over a pixel, summed: over the box and one pixel around. */
    float *mean = sums;  /* 2 x th x tw */
    for (int f = 0; f < 2; f++)
        box_sums(model + f * ah * aw, (int)ah, (int)aw, k, 0, mean + f * th * tw, along);
    /* The tentative estimate, and where the colour was sampled its residual. */
    const float scale = 1.0f / (float)(span * span);
    for (long y = 0; y < th; y++) {
        const int r = r0 - 1 + (int)y;
        const float *ma = mean + y * tw, *mb = mean + (th + y) * tw;
        const float *g = green + r * w + (c0 - 1);
        float *row = tent + y * tw;
        for (long x = 0; x < tw; x++)
            row[x] = (ma[x] * g[x] + mb[x]) * scale;
        if (r % 2 == sy) {
            const float *v = m + r * w + (c0 - 1);
            for (long x = (sx + c0 - 1) % 2; x < tw; x += 2)
                row[x] = v[x] - row[x];
        }
    }
    /* The colour: sampled, or the tentative estimate plus the residual interpolated. Each row
     * in two loops, every pixel and then the sampled or vertical ones (stepping by two):
     * with a choice per pixel in one loop, GCC left it scalar. */
    const long cols = c1 - c0;
    for (long y = 1; y < th - 1; y++) {
        const int r = r0 - 1 + (int)y;
        const float *up = tent + (y - 1) * tw + 1, *mid = tent + y * tw + 1, *down = tent + (y + 1) * tw + 1;
        const float *v = m + r * w + c0;
        float *o = out + (y - 1) * cols;
        const long first = (sx - c0 % 2 + 2) % 2;  /* the first column with samples */
        if (r % 2 == sy) {
            for (long x = 0; x < cols; x++)
                o[x] = 0.5f * (mid[x - 1] + mid[x + 1]) + mid[x];
            for (long x = first; x < cols; x += 2)
                o[x] = v[x];
        } else {
            for (long x = 0; x < cols; x++)
                o[x] = 0.25f * (up[x - 1] + up[x + 1] + down[x - 1] + down[x + 1]) + mid[x];
            for (long x = first; x < cols; x += 2)
                o[x] = 0.5f * (up[x] + down[x]) + mid[x];
        }
    }
    status = 0;
done:
    free(fields);
    free(along);
    free(sums);
    free(inv);
    free(tent);
    free(pair);
    return status;
}

/* Eight floats as one value: GCC's vector extension (AVX2 or SSE registers here, NEON on the
 * Pi), for the transposes' shuffles. */
typedef float v8sf __attribute__((vector_size(32)));
typedef int v8si __attribute__((vector_size(32)));

/* The 8 x 8 block at a (rows sa floats apart) transposed into t (rows st apart): three rounds of
 * shuffles (pairs of rows, pairs of pairs, halves), as vector code a compiler cannot find in a
 * loop of single moves. */
static inline __attribute__((always_inline)) void transpose8(const float *a, long sa, float *t, long st)
{
    const v8si pair_lo = { 0, 8, 1, 9, 4, 12, 5, 13 }, pair_hi = { 2, 10, 3, 11, 6, 14, 7, 15 };
    const v8si quad_lo = { 0, 1, 8, 9, 4, 5, 12, 13 }, quad_hi = { 2, 3, 10, 11, 6, 7, 14, 15 };
    const v8si half_lo = { 0, 1, 2, 3, 8, 9, 10, 11 }, half_hi = { 4, 5, 6, 7, 12, 13, 14, 15 };
    v8sf r[8], u[8], v[8];
    for (int i = 0; i < 8; i++)
        memcpy(&r[i], a + i * sa, sizeof(v8sf));
    for (int i = 0; i < 8; i += 2) {
        u[i] = __builtin_shuffle(r[i], r[i + 1], pair_lo);
        u[i + 1] = __builtin_shuffle(r[i], r[i + 1], pair_hi);
    }
    for (int i = 0; i < 8; i += 4) {
        v[i] = __builtin_shuffle(u[i], u[i + 2], quad_lo);
        v[i + 1] = __builtin_shuffle(u[i], u[i + 2], quad_hi);
        v[i + 2] = __builtin_shuffle(u[i + 1], u[i + 3], quad_lo);
        v[i + 3] = __builtin_shuffle(u[i + 1], u[i + 3], quad_hi);
    }
    for (int j = 0; j < 4; j++) {
        const v8sf low = __builtin_shuffle(v[j], v[j + 4], half_lo);
        const v8sf high = __builtin_shuffle(v[j], v[j + 4], half_hi);
        memcpy(t + j * st, &low, sizeof(v8sf));
        memcpy(t + (j + 4) * st, &high, sizeof(v8sf));
    }
}

/* a (rows x cols) transposed into t (cols x rows): 8 x 8 blocks, the edges one by one. */
static inline __attribute__((always_inline)) void transpose(const float *a, long rows, long cols, float *t)
{
    const long rows8 = rows - rows % 8, cols8 = cols - cols % 8;
    for (long r = 0; r < rows8; r += 8)
        for (long c = 0; c < cols8; c += 8)
            transpose8(a + r * cols + c, cols, t + c * rows + r, rows);
    for (long i = 0; i < rows; i++)
        for (long j = i < rows8 ? cols8 : 0; j < cols; j++)
            t[j * rows + i] = a[i * cols + j];
}

/*
 * isp.demosaic_ri.demosaic_mlri_planes on an RGGB mosaic m (h x w float32, h and w even), for
 * the box [r0, r1) x [c0, c1) of it, into out (3, r1 - r0, c1 - c0): green windows of
 * 2 green_k + 1 pixels, red and blue of (2 rb_k + 1)^2, regularisation eps. Returns 0, -1 when
 * out of memory, -2 when the box is too near the mosaic's edges (isp.demosaic_ri.reach says
 * how near it may be).
 */
VECTOR_CLONES
int mrig_demosaic_mlri(const float *m, int h, int w, int r0, int r1, int c0, int c1,
                       int green_k, int rb_k, float eps, float *out)
{
    /* Green is needed around the box as far as red and blue's windows reach. */
    const int need = 2 * rb_k + 3;
    const long size = (long)h * w;
    if (h % 2 || w % 2 || r0 - need < 2 || c0 - need < 2 || r1 + need > h - 2 || c1 + need > w - 2)
        return -2;
    float *mt = malloc(sizeof(float) * size);
    float *sums = malloc(sizeof(float) * size * 4);
    float *green = malloc(sizeof(float) * size);
    int status = -1;
    if (!mt || !sums || !green)
        goto done;
    float *num_v = sums, *den_v = sums + size, *num_h = sums + 2 * size, *den_h = sums + 3 * size;
    status = gbtf_down(m, h, w, r0 - need, r1 + need, green_k, eps, num_v, den_v);
    if (status)
        goto done;
    transpose(m, h, w, mt);
    status = gbtf_down(mt, w, h, c0 - need, c1 + need, green_k, eps, num_h, den_h);
    if (status)
        goto done;
    memcpy(green, m, sizeof(float) * size);
    for (int r = r0 - need; r < r1 + need; r++) {
        const int sign = r % 2 == 0 ? 1 : -1;  /* red sites: G - R; blue sites: -(B - G) */
        for (int c = c0 - need + (r + c0 - need) % 2; c < c1 + need; c += 2) {
            const long i = (long)r * w + c, t = (long)c * h + r;
            const float d = (num_h[t] + num_v[i]) / (den_h[t] + den_v[i]);
            green[i] = sign > 0 ? m[i] + d : m[i] - d;
        }
    }
    const long rows = r1 - r0, cols = c1 - c0, plane = rows * cols;
    for (long y = 0; y < rows; y++)
        memcpy(out + plane + y * cols, green + (r0 + y) * w + c0, sizeof(float) * cols);
    status = red_or_blue(m, green, w, 0, 0, rb_k, eps, r0, r1, c0, c1, out);
    if (!status)
        status = red_or_blue(m, green, w, 1, 1, rb_k, eps, r0, r1, c0, c1, out + 2 * plane);
done:
    free(mt);
    free(sums);
    free(green);
    return status;
}
