/*
 * The pipeline's stages after the demosaic, compiled: false-colour clamp and colour matrix,
 * noise reduction, clipping, tone curve, sharpening and 8-bit output (isp/compiled.py loads
 * this library with ctypes and says why).
 *
 * Each function does what its numpy stage does, in the same float32 operations in the same
 * order, so that the two give the same numbers (tests/test_isp_compiled.py checks they do, bit
 * for bit): isp.demosaic.clamp_false_colour, isp.ccm.colour_correct_planar,
 * isp.denoise.denoise_planar, isp.tone.tone_indexed, isp.sharpen.luma_detail and
 * isp.output.to_uint8_planar. Build with -ffp-contract=off: a fused multiply-add rounds once
 * where numpy rounds twice.
 *
 * Arrays are C-contiguous; planar images are (3, h, w). Loops run along rows, whose few
 * working rows stay in the CPU's caches, where numpy makes a pass over the whole tile per
 * operation. Functions return 0, or -1 when memory for their working rows runs out.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * On x86-64 each function is compiled twice, for AVX2 and for the baseline, and the loader
 * picks one for the CPU it runs on (GCC's function multi-versioning): the baseline's SSE2
 * handles four floats at a time, AVX2 eight (measured: 0.27 s a 12 MP frame with SSE2, 0.10 s
 * with AVX2). ARM's NEON is in every 64-bit ARM, the Pi's included, so there nothing changes.
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

/*
 * rgb (3, h, w) -> out (3, h - 2, w - 2): R - G and B - G held within the range of their eight
 * neighbours' (the values the sensor did not measure follow: green at red and blue sites, red
 * and blue elsewhere), clipped to [0, 1], then through the 3x3 matrix (row-major). phase_y and
 * phase_x: the row and column parity of rgb's first pixel in the RGGB mosaic.
 */
VECTOR_CLONES
int mrig_clamp_correct(const float *rgb, int h, int w, int phase_y, int phase_x,
                       const float *matrix, float *out)
{
    const long plane = (long)h * w, out_plane = (long)(h - 2) * (w - 2);
    const int n = w - 2;
    float *diff = malloc(sizeof(float) * 2 * 3 * w);  /* R - G, B - G of three rows, ring */
    float *clamped = malloc(sizeof(float) * 3 * n);    /* R - G, B - G clamped; green */
    if (!diff || !clamped) {
        free(diff);
        free(clamped);
        return -1;
    }
    for (int y = 0; y < h; y++) {
        float *d_r = diff + (y % 3) * w, *d_b = diff + 3 * w + (y % 3) * w;
        const float *red = rgb + (long)y * w, *green = red + plane, *blue = red + 2 * plane;
        for (int x = 0; x < w; x++) {
            d_r[x] = red[x] - green[x];
            d_b[x] = blue[x] - green[x];
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
        const float *c_r = clamped, *c_b = clamped + n;
        float *g = clamped + 2 * n;
        const float *in_r = rgb + (long)row * w + 1, *in_g = in_r + plane, *in_b = in_r + 2 * plane;
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
        for (int x = 0; x < n; x++) {
            const float r = clampf(g[x] + c_r[x], 0.0f, 1.0f);
            const float b = clampf(g[x] + c_b[x], 0.0f, 1.0f);
            const float gx = clampf(g[x], 0.0f, 1.0f);
            o0[x] = r * m00 + gx * m01 + b * m02;
            o1[x] = r * m10 + gx * m11 + b * m12;
            o2[x] = r * m20 + gx * m21 + b * m22;
        }
    }
    free(diff);
    free(clamped);
    return 0;
}

/*
 * dst (h - 2r, w - 2r) = sums of src (h, w), or of its squares, over (2r + 1)^2 windows: down
 * the columns first, then along the rows, adding in isp.denoise._box's order. down: w floats.
 */
/* Inlined into each caller (and each of its versions), where r and square are constants. */
static inline __attribute__((always_inline)) void box_sums(const float *src, int h, int w, int r, int square, float *dst, float *down)
{
    const int rows = h - 2 * r, cols = w - 2 * r;
    for (int y = 0; y < rows; y++) {
        const float *line = src + (long)y * w;
        if (square)
            for (int x = 0; x < w; x++)
                down[x] = line[x] * line[x];
        else
            memcpy(down, line, sizeof(float) * w);
        for (int d = 1; d <= 2 * r; d++) {
            line = src + (long)(y + d) * w;
            if (square)
                for (int x = 0; x < w; x++)
                    down[x] += line[x] * line[x];
            else
                for (int x = 0; x < w; x++)
                    down[x] += line[x];
        }
        float *o = dst + (long)y * cols;
        memcpy(o, down, sizeof(float) * cols);
        for (int d = 1; d <= 2 * r; d++)
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
                           const double *weights, uint8_t *out)
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
    for (long i = 0; i < 3 * plane; i++) {
        long index = (int32_t)rgb[i];  /* truncation, as numpy's cast */
        if (index < 0)
            index += size;
        levels[i] = table[index];
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
        uint8_t *o = out + (long)(y - 1) * n * 3;
        for (int c = 0; c < 3; c++) {
            const float *src = levels + c * plane + (long)y * w + 1;
            for (int x = 0; x < n; x++)
                o[3 * x + c] = (uint8_t)clampf(src[x] + detail[x], 0.0f, 255.5f);
        }
    }
    free(levels);
    free(luma);
    free(detail);
    return 0;
}

/* The interface's version: isp/compiled.py uses the library only if it expects this one. */
int mrig_kernels_version(void) { return 1; }
