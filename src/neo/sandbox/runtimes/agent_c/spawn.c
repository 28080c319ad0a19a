/* Starting the agent's children: `/bin/sh -c` in a session of its own, the request's
 * environment over the agent's, stdin /dev/null, output on pipes; a failure to start is
 * reported by the child on a close-on-exec pipe, as Python's subprocess does. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int exit_code(int status) {
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

void kill_group(pid_t pid) {
    if (pid > 0) kill(-pid, SIGKILL);
}

/* The agent's environment with the request's variables laid over it (plus `extra` when unset). */
char **child_env(const request *r, const char *extra) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = xrealloc(NULL, (n + r->nenv + 2) * sizeof *env);
    size_t k = 0;
    int have_extra = 0;
    size_t extra_len = extra ? (size_t)(strchr(extra, '=') - extra) + 1 : 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(environ[i], "=") + 1;
        int overridden = 0;
        for (size_t j = 0; j < r->nenv && !overridden; j++)
            overridden = !strncmp(r->env[j], environ[i], len);
        if (extra && !strncmp(environ[i], extra, extra_len)) have_extra = 1;
        if (!overridden) env[k++] = environ[i];
    }
    for (size_t j = 0; j < r->nenv; j++) {
        if (extra && !strncmp(r->env[j], extra, extra_len)) have_extra = 1;
        env[k++] = r->env[j];
    }
    if (extra && !have_extra) env[k++] = (char *)extra;
    env[k] = NULL;
    return env;
}

void child_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

/* Report why the child could not start on the error pipe, then exit 127. */
static void child_fail(int report, char stage) {
    int e = errno;
    char msg[1 + sizeof e];
    msg[0] = stage;
    memcpy(msg + 1, &e, sizeof e);
    (void)!write(report, msg, sizeof msg);
    _exit(127);
}

/*
 * Start `/bin/sh -c command` in its own session, stdin /dev/null, output on two pipes whose
 * read ends go to out[]. -1 with `why` filled when it could not start.
 */
pid_t spawn(const request *r, int out[2], char *why, size_t why_len) {
    int o[2], e[2], rep[2];
    const char *cwd = r->cwd && r->cwd[0] ? r->cwd : ".";
    if (pipe2(o, O_CLOEXEC) < 0) goto fail0;
    if (pipe2(e, O_CLOEXEC) < 0) goto fail1;
    if (pipe2(rep, O_CLOEXEC) < 0) goto fail2;
    char **env = child_env(r, NULL);
    char *argv[] = {"/bin/sh", "-c", r->command, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        child_signals();
        setsid();
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(o[1], 1) < 0 || dup2(e[1], 2) < 0)
            child_fail(rep[1], 'd');
        if (chdir(cwd) < 0) child_fail(rep[1], 'c');
        execve(argv[0], argv, env);
        child_fail(rep[1], 'e');
    }
    int saved = errno;
    free(env);
    close(o[1]);
    close(e[1]);
    close(rep[1]);
    if (pid < 0) {
        close(rep[0]);
        close(o[0]);
        close(e[0]);
        errno = saved;
        goto fail0;
    }
    char msg[1 + sizeof(int)];
    ssize_t got;
    do got = read(rep[0], msg, sizeof msg);
    while (got < 0 && errno == EINTR);
    close(rep[0]);
    if (got == (ssize_t)sizeof msg) {
        int err;
        memcpy(&err, msg + 1, sizeof err);
        waitpid(pid, NULL, 0);
        close(o[0]);
        close(e[0]);
        snprintf(why, why_len, "[Errno %d] %s: '%s'", err, strerror(err),
                 msg[0] == 'c' ? cwd : "/bin/sh");
        return -1;
    }
    fcntl(o[0], F_SETFL, O_NONBLOCK);
    fcntl(e[0], F_SETFL, O_NONBLOCK);
    out[0] = o[0];
    out[1] = e[0];
    return pid;
fail2:
    close(e[0]);
    close(e[1]);
fail1:
    close(o[0]);
    close(o[1]);
fail0:
    snprintf(why, why_len, "[Errno %d] %s", errno, strerror(errno));
    return -1;
}
