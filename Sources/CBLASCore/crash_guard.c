// A kernel that the CPU cannot run dies with SIGILL (or faults) inside the self-check's sgemm.
// Catching that signal and calling execve — async-signal-safe — restarts the same pid on the
// library's own kernel, with the environment prepared before the check.
#include "blas_core.h"
#include <signal.h>
#include <stddef.h>
#include <unistd.h>

static const int guarded_signals[] = {SIGILL, SIGSEGV, SIGBUS, SIGFPE};
enum { guarded_count = sizeof guarded_signals / sizeof guarded_signals[0] };
static struct sigaction previous[guarded_count];
static const char *guard_path;
static char *const *guard_argv;
static char *const *guard_envp;

static void on_crash(int signal_number) {
    (void)signal_number;
    // SA_NODEFER below keeps the crashing signal unblocked: execve inherits the signal mask.
    execve(guard_path, guard_argv, guard_envp);
    _exit(70);
}

void rnn_dist_crash_guard_arm(const char *path, char *const argv[], char *const envp[]) {
    guard_path = path;
    guard_argv = argv;
    guard_envp = envp;
    struct sigaction action = {0};
    action.sa_handler = on_crash;
    action.sa_flags = SA_NODEFER | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < guarded_count; i++) sigaction(guarded_signals[i], &action, &previous[i]);
}

void rnn_dist_crash_guard_disarm(void) {
    for (int i = 0; i < guarded_count; i++) sigaction(guarded_signals[i], &previous[i], NULL);
    guard_path = NULL;
    guard_argv = NULL;
    guard_envp = NULL;
}
