// What the CPU supports (cpuid, and XGETBV for the register state the OS saves), and a guard
// that re-executes the program if a BLAS kernel crashes with SIGILL/SIGSEGV/SIGBUS/SIGFPE
// during rnn-dist's start-up self-check. Swift wraps both (BLAS module: CPUFeatures,
// BLASCoreStartup); nothing here allocates or prints.
#ifndef RNN_DIST_BLAS_CORE_H
#define RNN_DIST_BLAS_CORE_H
#include <stdint.h>

/// The cpuid words the feature decisions need. Zero everywhere on a non-x86 CPU.
typedef struct {
    uint32_t max_leaf;        // cpuid(0).eax
    char vendor[13];          // "GenuineIntel", "AuthenticAMD", ... (NUL-terminated)
    char brand[49];           // cpuid 0x80000002..4, e.g. "Intel(R) Xeon(R) Processor"
    uint32_t leaf1_ecx;       // SSE3 bit 0, FMA bit 12, OSXSAVE bit 27, AVX bit 28
    uint32_t leaf7_ebx;       // AVX2 bit 5, AVX512F 16, AVX512DQ 17, AVX512BW 30, AVX512VL 31
    uint32_t leaf7_1_eax;     // AVX512_BF16 bit 5
    uint64_t xcr0;            // XGETBV(0) when OSXSAVE is set, else 0
    uint32_t family;          // display family (base + extended)
    uint32_t model;           // display model (base + extended)
} rnn_dist_cpuid_words;

/// Fills `words` from this CPU.
void rnn_dist_read_cpuid(rnn_dist_cpuid_words *words);

/// One cache as cpuid's deterministic cache parameters describe it (leaf 4 on Intel,
/// 0x8000001D on AMD and Hygon with TOPOEXT).
typedef struct {
    uint32_t level;           // 1, 2, 3
    uint32_t type;            // 1 data, 2 instruction, 3 unified
    uint64_t bytes;           // ways × partitions × line size × sets
    uint32_t sharing;         // logical processors sharing it (EAX[25:14] + 1)
} rnn_dist_cache;

/// Fills up to `capacity` caches of this CPU; returns how many (0 where the leaf is missing,
/// e.g. on another architecture or an AMD CPU without TOPOEXT).
int rnn_dist_read_caches(rnn_dist_cache *caches, int capacity);

/// Until disarmed, a SIGILL, SIGSEGV, SIGBUS or SIGFPE replaces the process with
/// execve(path, argv, envp) (same pid, so mpirun and srun still see their rank). The arrays
/// must stay valid until disarmed; the handler only calls execve and, if that fails, _exit(70).
void rnn_dist_crash_guard_arm(const char *path, char *const argv[], char *const envp[]);
void rnn_dist_crash_guard_disarm(void);

#endif
