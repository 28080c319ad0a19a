/* Terminals: a command on a new pseudo-terminal and the binary frames of agent.py's
 * protocol (`o` opened, `d` data, `r` resize, `x` exit). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

static void set_size(int fd, double cols, double rows) {
    struct winsize ws = {0};
    ws.ws_col = (unsigned short)(cols > 0 && cols < 65536 ? cols : 80);
    ws.ws_row = (unsigned short)(rows > 0 && rows < 65536 ? rows : 24);
    ioctl(fd, TIOCSWINSZ, &ws);
}

void frame(buf *b, char kind, const void *payload, size_t n) {
    unsigned char head[5] = {(unsigned char)kind, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                             (unsigned char)(n >> 8), (unsigned char)n};
    buf_add(b, head, 5);
    buf_add(b, payload, n);
}

void start_pty(conn *c, request *r) {
    char name[128], text[64];
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) || unlockpt(master) || ptsname_r(master, name, sizeof name)) {
        snprintf(text, sizeof text, "127 %s", strerror(errno));
        if (master >= 0) close(master);
        frame(&c->out, 'x', text, strlen(text));
        reply(c);
        return;
    }
    set_size(master, r->cols, r->rows);
    char **env = child_env(r, "TERM=xterm-256color");
    char *sh[] = {"/bin/sh", "-c", r->command, NULL}, *login[] = {"/bin/sh", NULL};
    char **argv = r->command && r->command[0] ? sh : login;
    const char *cwd = r->cwd && r->cwd[0] ? r->cwd : ".";
    int started[2] = {-1, -1}; /* closed by the child's exec (or exit): its session exists */
    pid_t pid = pipe2(started, O_CLOEXEC) == 0 ? fork() : -1;
    if (pid == 0) {
        child_signals();
        setsid();
        int slave = open(name, O_RDWR);
        if (slave < 0) _exit(127);
        ioctl(slave, TIOCSCTTY, 0);
        if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) _exit(127);
        if (slave > 2) close(slave);
        if (chdir(cwd) == 0) execve(argv[0], argv, env);
        _exit(127);
    }
    int saved = errno;
    free(env);
    if (pid < 0) {
        snprintf(text, sizeof text, "127 %s", strerror(saved));
        close_fd(&started[0]);
        close_fd(&started[1]);
        close(master);
        frame(&c->out, 'x', text, strlen(text));
        reply(c);
        return;
    }
    close(started[1]);
    char byte;
    while (read(started[0], &byte, 1) < 0 && errno == EINTR) continue;
    close(started[0]); /* a hang-up from now on reaches the terminal's whole process group */
    fcntl(master, F_SETFL, O_NONBLOCK);
    c->master = master;
    c->pid = pid;
    c->state = PTY;
    snprintf(text, sizeof text, "%d", (int)pid);
    frame(&c->out, 'o', text, strlen(text));
}

static void pty_frames(conn *c) {
    while (c->in.len >= 5) {
        unsigned char *p = (unsigned char *)c->in.p;
        size_t size = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (size > MAX_FRAME) {
            hang_up(c);
            return;
        }
        if (c->in.len < 5 + size) return;
        if (p[0] == 'd') buf_add(&c->tty, p + 5, size);
        if (p[0] == 'r' && size == 4 && c->master >= 0)
            set_size(c->master, (double)(p[5] << 8 | p[6]), (double)(p[7] << 8 | p[8]));
        buf_drop(&c->in, 5 + size);
    }
}

void pty_read_client(conn *c) {
    char data[CHUNK];
    ssize_t n = recv(c->fd, data, sizeof data, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        hang_up(c);
        return;
    }
    buf_add(&c->in, data, (size_t)n);
    pty_frames(c);
}

void pty_read_terminal(conn *c) {
    char data[CHUNK];
    ssize_t n = read(c->master, data, sizeof data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) { /* EIO: every process left the terminal */
        close_fd(&c->master);
        buf_free(&c->tty);
        kill_group(c->pid); /* what is left of the session goes with it */
        return;
    }
    if (!c->gone) frame(&c->out, 'd', data, (size_t)n);
}

void pty_write_terminal(conn *c) {
    ssize_t n = write(c->master, c->tty.p, c->tty.len);
    if (n > 0) buf_drop(&c->tty, (size_t)n);
}

void pty_advance(conn *c) {
    if (c->master >= 0 || !c->reaped) return;
    if (c->gone) {
        c->dead = 1;
        return;
    }
    char text[16];
    snprintf(text, sizeof text, "%d", exit_code(c->status));
    frame(&c->out, 'x', text, strlen(text));
    reply(c);
}
