// cpuid and XGETBV, read once at start-up; the decisions live in Swift (BLAS/CPUFeatures.swift).
#include "blas_core.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

// XGETBV by opcode so that no -mxsave flag is needed; only called when OSXSAVE says it exists.
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

void rnn_dist_read_cpuid(rnn_dist_cpuid_words *words) {
    memset(words, 0, sizeof *words);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    words->max_leaf = a;
    memcpy(words->vendor + 0, &b, 4);
    memcpy(words->vendor + 4, &d, 4);
    memcpy(words->vendor + 8, &c, 4);
    __cpuid(1, a, b, c, d);
    words->leaf1_ecx = c;
    uint32_t base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    words->family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    words->model = (base_family == 0x6 || base_family == 0xf) ? base_model + (((a >> 16) & 0xf) << 4) : base_model;
    if (words->max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        words->leaf7_ebx = b;
        if (a >= 1) { // leaf 7 has sub-leaf 1
            __cpuid_count(7, 1, a, b, c, d);
            words->leaf7_1_eax = a;
        }
    }
    if (words->leaf1_ecx & (1u << 27)) words->xcr0 = read_xcr0();
    if (__get_cpuid_max(0x80000000, 0) >= 0x80000004) {
        for (unsigned leaf = 0; leaf < 3; leaf++) {
            __cpuid(0x80000002 + leaf, a, b, c, d);
            memcpy(words->brand + 16 * leaf + 0, &a, 4);
            memcpy(words->brand + 16 * leaf + 4, &b, 4);
            memcpy(words->brand + 16 * leaf + 8, &c, 4);
            memcpy(words->brand + 16 * leaf + 12, &d, 4);
        }
    }
}

int rnn_dist_read_caches(rnn_dist_cache *caches, int capacity) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const unsigned max_leaf = a;
    unsigned leaf = 4;
    if (b == 0x68747541 || b == 0x6f677948) { // "Auth"enticAMD, "Hygo"nGenuine
        // AMD's equivalent of leaf 4 exists only with TOPOEXT (cpuid 0x80000001 ECX bit 22).
        if (__get_cpuid_max(0x80000000, 0) < 0x8000001D) return 0;
        __cpuid(0x80000001, a, b, c, d);
        if (!(c & (1u << 22))) return 0;
        leaf = 0x8000001D;
    } else if (max_leaf < 4) {
        return 0;
    }
    int count = 0;
    for (unsigned index = 0; index < 16 && count < capacity; index++) {
        __cpuid_count(leaf, index, a, b, c, d);
        const uint32_t type = a & 0x1f;
        if (type == 0) break;
        const uint64_t ways = ((b >> 22) & 0x3ff) + 1, partitions = ((b >> 12) & 0x3ff) + 1;
        const uint64_t line = (b & 0xfff) + 1, sets = (uint64_t)c + 1;
        caches[count].level = (a >> 5) & 0x7;
        caches[count].type = type;
        caches[count].bytes = ways * partitions * line * sets;
        caches[count].sharing = ((a >> 14) & 0xfff) + 1;
        count++;
    }
    return count;
}
#else
void rnn_dist_read_cpuid(rnn_dist_cpuid_words *words) { memset(words, 0, sizeof *words); }
int rnn_dist_read_caches(rnn_dist_cache *caches, int capacity) { (void)caches; (void)capacity; return 0; }
#endif
