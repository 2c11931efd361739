/*
 * Runs every function of isp/kernels.c once, as isp/compiled.py does for one tile, on made-up
 * input (a fixed pseudo-random sequence: the same on every machine), and prints a hash of each
 * output. Built for this machine and for the Raspberry Pi (aarch64, run under qemu), the two
 * must print the same lines: the compiled stages give the same bytes on the Pi as here
 * (tests/test_isp_compiled.py builds and compares them).
 *
 * Compiled together with isp/kernels.c (#included below), with setup.py's flags.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../isp/kernels.c"

enum { H = 128, W = 160, CELLS = 3 };

static uint64_t state = 0x9E3779B97F4A7C15u;

static double next_unit(void)  /* xorshift64*: [0, 1) */
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 0x2545F4914F6CDD1Du) >> 11) / 9007199254740992.0;
}

static uint64_t fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static void report(const char *name, int status, const void *data, size_t n)
{
    printf("%s %d %016llx\n", name, status, (unsigned long long)fnv1a(data, n));
}

int main(void)
{
    /* A tile: a bright square with a dark stroke across it, on a gradient, with noise and a
     * few hot pixels; 12-bit, black 256. */
    static uint16_t raw[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double v = 600.0 + 8.0 * x + 4.0 * y;
            if (x > 40 && x < 120 && y > 30 && y < 100)
                v = 3200.0 + 300.0 * (x % 2) - 200.0 * (y % 2);
            if (abs(x - y - 20) < 3)
                v = 300.0;
            v += 60.0 * next_unit();
            if (next_unit() < 0.002)
                v = 4095.0;
            raw[y * W + x] = (uint16_t)(v > 4095.0 ? 4095.0 : v);
        }
    /* Black, 1 / range, DPC threshold and slope, green equalisation offset and slope, both
     * on, then the red, green and blue gains. */
    const float params[11] = { 256.0f, 1.0f / 3839.0f, 0.02f, 0.5f, 0.01f, 0.1f, 1.0f, 1.0f,
                               1.9f, 1.0f, 1.6f };
    static float across[3 * CELLS * W], step[3 * CELLS * W];
    for (int i = 0; i < 3 * CELLS * W; i++) {
        across[i] = 1.0f + (float)next_unit();
        step[i] = 0.2f * (float)next_unit() - 0.1f;
    }
    static int rows_cell[H], cols[W];
    static float rows_t[H];
    for (int y = 0; y < H; y++) {
        rows_cell[y] = y * (CELLS - 1) / H;
        rows_t[y] = (float)((y * (CELLS - 1)) % H) / (float)H;
    }
    for (int x = 0; x < W; x++)
        cols[x] = W - 1 - x;  /* mirrored, as at the frame's right edge */
    static float scratch[H * W], mosaic[H * W];
    int m = mrig_mosaic_stages(raw, H, W, params, across, step, CELLS, W, rows_cell, rows_t, cols,
                               scratch, mosaic);
    report("mosaic_stages", m, mosaic, sizeof(mosaic));

    /* The demosaic at the default windows (11 and 5: k 5 and 2), on a box its reach (28) and
     * the mosaic stages' border (4) inside the tile; then a smaller window pair. */
    const int r0 = 34, r1 = H - 34, c0 = 34, c1 = W - 34;
    const int bh = r1 - r0, bw = c1 - c0;
    float *rgb = malloc(sizeof(float) * 3 * bh * bw);
    int status = mrig_demosaic_mlri(mosaic, H, W, r0, r1, c0, c1, 5, 2, 2e-6f, rgb);
    report("demosaic_mlri", status, rgb, sizeof(float) * 3 * bh * bw);
    float *small = malloc(sizeof(float) * 3 * bh * bw);
    status = mrig_demosaic_mlri(mosaic, H, W, r0, r1, c0, c1, 2, 1, 1e-4f, small);
    report("demosaic_mlri_small_windows", status, small, sizeof(float) * 3 * bh * bw);

    /* The stages after it: clamp and matrix (scaled to a 4096-entry tone table), noise
     * reduction, clip, tone curve with sharpening, 8 bits. */
    const float matrix[9] = { 1.7f * 4095, -0.5f * 4095, -0.2f * 4095, -0.3f * 4095, 1.5f * 4095,
                              -0.2f * 4095, 0.0f, -0.6f * 4095, 1.6f * 4095 };
    const int lh = bh - 2, lw = bw - 2;
    float *lin = malloc(sizeof(float) * 3 * lh * lw);
    status = mrig_clamp_correct(rgb, bh, bw, r0 % 2, c0 % 2, matrix, lin);
    report("clamp_correct", status, lin, sizeof(float) * 3 * lh * lw);
    const double k[9] = { 0.8, 2.0, 1.5, 3.0, 1.2, 2.5, 0.2126, 0.7152, 0.0722 };
    const int dh = lh - 4, dw = lw - 4;
    float *reduced = malloc(sizeof(float) * 3 * dh * dw);
    status = mrig_denoise(lin, lh, lw, k, reduced);
    report("denoise", status, reduced, sizeof(float) * 3 * dh * dw);
    mrig_clip(reduced, 3L * dh * dw, -40.0f, 4300.0f);
    report("clip", 0, reduced, sizeof(float) * 3 * dh * dw);
    static float table[4096];
    for (int i = 0; i < 4096; i++)
        table[i] = (float)(255.0 * (i < 4000 ? i / 4000.0 : 1.0));
    const double weights[3] = { 0.2126, 0.7152, 0.0722 };
    const int oh = dh - 2, ow = dw - 2;
    uint8_t *out = malloc((size_t)3 * oh * ow);
    status = mrig_tone_sharpen_8bit(reduced, dh, dw, table, 4096, 1, 1.0f, 0.8f, 20.0f, weights, out,
                                    3L * ow);
    report("tone_sharpen_8bit", status, out, (size_t)3 * oh * ow);

    static uint8_t packed[3000];
    static uint16_t unpacked[2000];
    for (int i = 0; i < 3000; i++)
        packed[i] = (uint8_t)(256.0 * next_unit());
    mrig_unpack_12(packed, 1000, unpacked);
    report("unpack_12", 0, unpacked, sizeof(unpacked));
    free(rgb);
    free(small);
    free(lin);
    free(reduced);
    free(out);
    return 0;
}
