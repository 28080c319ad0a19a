/*
 * neo-agent --launch: the host-side start of a local sandbox, run as root before bwrap. It
 * joins the sandbox's cgroups (writing its pid to each `cgroup.procs` file named), drops to
 * the sandbox's uid and gid with no supplementary groups, forbids new privileges, then becomes
 * the rest of the command line: the sandbox is limited before any of its code runs. It does
 * what `sh -c LAUNCHER` + `setpriv` do (bwrap.py), in one exec.
 *
 * Usage: neo-agent --launch UID [PROCS_FILE...] -- PROGRAM [ARG...]
 * Exits 125 when a step fails, 127 when PROGRAM cannot be executed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

static int die(const char *what, const char *arg) {
    fprintf(stderr, "neo-agent --launch: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
    return 125;
}

int launch_main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: neo-agent --launch UID [PROCS_FILE...] -- PROGRAM [ARG...]\n");
        return 125;
    }
    char *end;
    long uid = strtol(argv[2], &end, 10);
    if (*argv[2] == 0 || *end != 0 || uid <= 0 || uid > 0x7fffffffL) {
        errno = EINVAL;
        return die("bad uid", argv[2]);
    }
    int i = 3;
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        int fd = open(argv[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid, (size_t)len) != len) return die("join cgroup", argv[i]);
        close(fd);
    }
    if (i + 1 >= argc) {
        errno = EINVAL;
        return die("no program after --", NULL);
    }
    if (setgroups(0, NULL) < 0) return die("setgroups", NULL);
    if (setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0) return die("setresgid", argv[2]);
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) return die("setresuid", argv[2]);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return die("no_new_privs", NULL);
    execve(argv[i + 1], &argv[i + 1], environ);
    fprintf(stderr, "neo-agent --launch: exec %s: %s\n", argv[i + 1], strerror(errno));
    return 127;
}
