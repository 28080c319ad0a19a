/*
 * neo-agent: the native in-sandbox agent. It speaks the protocol of agent.py (read that
 * module's docstring) on the same Unix socket: exec with streamed JSON lines, ping, terminals
 * in binary frames, background commands, and a TCP relay to the sandbox's loopback.
 *
 * One thread, one poll() loop; SIGCHLD arrives through a signalfd and every child is reaped
 * with waitpid(-1) (the agent may be the pid namespace's init, `bwrap --as-pid-1`, so orphans
 * are reaped too). Every descriptor is close-on-exec; children start with default signals.
 * A request that cannot be parsed gets one `{"error": "bad_request"}` line, never a crash.
 * Output is bytes: it is decoded as UTF-8 with invalid sequences replaced by U+FFFD (one per
 * maximal invalid subpart, as Python's "replace" handler does) and written as ASCII JSON.
 *
 * Built by NEO with the system C compiler (agent_build.py): cc -O2 [-static] *.c
 * (the same binary, run as `neo-agent --launch` on the host, starts the sandbox: launch.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

/* ------------------------------------------------------------ connections */

static conn *conns;
static size_t nconns;

void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

void reply(conn *c) {
    c->state = REPLY;
}

/* The client hung up: its command's whole process group goes. */
void hang_up(conn *c) {
    c->gone = 1;
    close_fd(&c->fd);
    buf_free(&c->out);
    if (c->state == EXEC || c->state == PTY) kill_group(c->pid); /* the group outlives sh */
    if (c->state != EXEC && c->state != PTY) c->dead = 1;
}

/* Send what is queued; on failure the client is gone. */
static void flush_client(conn *c) {
    while (c->fd >= 0 && c->out.len) {
        ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf_drop(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        hang_up(c);
        return;
    }
}

static void stream_line(conn *c, int which, const unsigned char *data, size_t n, int final) {
    unsigned char tmp[CHUNK + 4];
    size_t have = c->npend[which];
    memcpy(tmp, c->pend[which], have);
    memcpy(tmp + have, data, n);
    have += n;
    if (have == 0) return;
    buf line = {0};
    buf_str(&line, which ? "{\"stderr\":\"" : "{\"stdout\":\"");
    size_t before = line.len;
    size_t left = json_bytes(&line, tmp, have, final);
    memcpy(c->pend[which], tmp + have - left, left);
    c->npend[which] = left;
    if (line.len > before && !c->gone) {
        buf_str(&line, "\"}\n");
        buf_add(&c->out, line.p, line.len);
    }
    buf_free(&line);
}

static void start_exec(conn *c, request *r) {
    char why[512];
    if (r->command == NULL) {
        error_line(&c->out, "bad_request", "exec needs a command");
        reply(c);
        return;
    }
    c->pid = spawn(r, c->pipe, why, sizeof why);
    if (c->pid < 0) {
        buf_str(&c->out, "{\"stderr\":");
        strncat(why, "\n", sizeof why - strlen(why) - 1);
        json_cstr(&c->out, why);
        buf_str(&c->out, "}\n{\"exit\":127,\"timed_out\":false}\n");
        reply(c);
        return;
    }
    double ms = r->timeout * 1000.0;
    if (ms > 1e12) ms = 1e12;
    if (ms < 0) ms = 0;
    c->deadline = now_ms() + (long long)ms;
    c->state = EXEC;
}

static void start_connect(conn *c, request *r) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (!r->has_port || r->port != (double)(int)r->port || r->port < 0 || r->port > 65535) {
        error_line(&c->out, "connect_failed", "port must be an integer in 0-65535");
        reply(c);
        return;
    }
    addr.sin_port = htons((uint16_t)r->port);
    c->up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->up < 0 || (connect(c->up, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)) {
        error_line(&c->out, "connect_failed", strerror(errno));
        close_fd(&c->up);
        reply(c);
        return;
    }
    c->deadline = now_ms() + 5000;
    c->state = CONNECTING;
}


/* ------------------------------------------------------------ dispatch */

static void dispatch(conn *c, const char *line, size_t n) {
    request r;
    const char *why = parse_request(line, n, &r);
    if (why != NULL) {
        error_line(&c->out, "bad_request", why);
        c->refused = 1;
        reply(c);
        return;
    }
    const char *op = r.op ? r.op : "exec";
    if (!strcmp(op, "ping")) {
        buf_fmt(&c->out, "{\"pong\":%d}\n", (int)getpid());
        reply(c);
    } else if (!strcmp(op, "exec")) {
        start_exec(c, &r);
    } else if (!strcmp(op, "pty")) {
        start_pty(c, &r);
    } else if (!strcmp(op, "connect")) {
        start_connect(c, &r);
    } else if (!strcmp(op, "start") || !strcmp(op, "status") || !strcmp(op, "logs") ||
               !strcmp(op, "kill") || !strcmp(op, "list")) {
        command_answer(&c->out, &r);
        reply(c);
    } else {
        error_line(&c->out, "bad_request", "unknown op");
        reply(c);
    }
    request_free(&r);
}

static void read_request(conn *c) {
    char data[CHUNK];
    ssize_t n = recv(c->fd, data, sizeof data, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) {
        c->dead = 1;
        return;
    }
    if (n > 0) buf_add(&c->in, data, (size_t)n);
    char *nl = c->in.len ? memchr(c->in.p, '\n', c->in.len) : NULL;
    if (nl == NULL && n > 0 && c->in.len <= MAX_REQUEST) return;
    if (nl == NULL && c->in.len > MAX_REQUEST) {
        error_line(&c->out, "bad_request", "request line too long");
        buf_free(&c->in);
        c->refused = 1;
        reply(c);
        return;
    }
    if (nl == NULL && c->in.len == 0) { /* hung up before asking anything */
        c->dead = 1;
        return;
    }
    size_t len = nl ? (size_t)(nl - c->in.p) : c->in.len;
    dispatch(c, c->in.p, len);
    buf_drop(&c->in, nl ? len + 1 : len);
    if (n == 0 && c->state != REPLY) c->c_eof = 1;
}

/* ------------------------------------------------------------ per-state progress */

static void exec_read(conn *c, int which) {
    unsigned char data[CHUNK];
    ssize_t n = read(c->pipe[which], data, sizeof data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        stream_line(c, which, (unsigned char *)"", 0, 1);
        close_fd(&c->pipe[which]);
        return;
    }
    stream_line(c, which, data, (size_t)n, 0);
}

static void exec_advance(conn *c, long long now) {
    if (!c->timed_out && now >= c->deadline) {
        c->timed_out = 1;
        kill_group(c->pid);
    }
    if (c->timed_out && c->reaped && now >= c->deadline + 1000) {
        close_fd(&c->pipe[0]); /* an escaped descendant still holds the pipes: give up on them */
        close_fd(&c->pipe[1]);
    }
    if (c->pipe[0] >= 0 || c->pipe[1] >= 0 || !c->reaped) return;
    if (c->gone) {
        c->dead = 1;
        return;
    }
    buf_fmt(&c->out, "{\"exit\":%d,\"timed_out\":%s}\n", exit_code(c->status),
            c->timed_out ? "true" : "false");
    reply(c);
}

static void connect_advance(conn *c, long long now, short revents) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!revents && now < c->deadline) return;
    if (!revents) err = ETIMEDOUT;
    else if (getsockopt(c->up, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        error_line(&c->out, "connect_failed", strerror(err));
        close_fd(&c->up);
        reply(c);
        return;
    }
    buf_str(&c->out, "{\"ok\":true}\n");
    c->state = RELAY;
    buf_add(&c->upbuf, c->in.p, c->in.len);
    buf_free(&c->in);
}

/* Copy one chunk from `from` into `into`; 1 on end of stream or error. */
static int relay_read(int from, buf *into) {
    char data[CHUNK];
    ssize_t n = recv(from, data, sizeof data, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) return 1;
    buf_add(into, data, (size_t)n);
    return 0;
}

static void relay_advance(conn *c) {
    while (c->upbuf.len) {
        ssize_t n = send(c->up, c->upbuf.p, c->upbuf.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf_drop(&c->upbuf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        c->dead = 1; /* one side went away */
        return;
    }
    if (c->c_eof == 1 && !c->upbuf.len) {
        shutdown(c->up, SHUT_WR);
        c->c_eof = 2;
    }
    if (c->u_eof == 1 && !c->out.len && c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        c->u_eof = 2;
    }
    if (c->c_eof == 2 && c->u_eof == 2) c->dead = 1;
}

/* ------------------------------------------------------------ the loop */

static void conn_free(conn *c) {
    close_fd(&c->fd);
    close_fd(&c->pipe[0]);
    close_fd(&c->pipe[1]);
    close_fd(&c->master);
    close_fd(&c->up);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->tty);
    buf_free(&c->upbuf);
    free(c);
}

static long long accept_paused_until;

static void accept_all(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS))
            accept_paused_until = now_ms() + 100; /* out of descriptors: let some close first */
        if (fd < 0) return;
        if (nconns >= MAX_CONNS) { /* refuse this one rather than starve the others */
            close(fd);
            continue;
        }
        conn *c = xrealloc(NULL, sizeof *c);
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->pipe[0] = c->pipe[1] = c->master = c->up = -1;
        c->next = conns;
        conns = c;
        nconns++;
    }
}

static void record_exit(pid_t pid, int status) {
    for (conn *c = conns; c; c = c->next) {
        if ((c->state == EXEC || c->state == PTY) && c->pid == pid && !c->reaped) {
            c->reaped = 1;
            c->status = status;
            return;
        }
    }
    command_exited(pid, status);
}

static void reap(int sigfd) {
    struct signalfd_siginfo info[8];
    while (read(sigfd, info, sizeof info) > 0) continue;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) record_exit(pid, status);
}

typedef struct {
    void *obj;
    int role;
} slot;

enum { R_LISTEN, R_SIGNAL, R_CLIENT, R_OUT0, R_OUT1, R_MASTER, R_UP, R_CMD0, R_CMD1 };

static size_t watch(struct pollfd *fds, slot *slots, size_t n, int fd, short events, void *obj, int role) {
    if (fd < 0 || !events) return n;
    fds[n] = (struct pollfd){.fd = fd, .events = events};
    slots[n] = (slot){obj, role};
    return n + 1;
}

static size_t build(struct pollfd *fds, slot *slots, int listener, int sigfd) {
    size_t n = 0;
    if (now_ms() >= accept_paused_until) n = watch(fds, slots, n, listener, POLLIN, NULL, R_LISTEN);
    n = watch(fds, slots, n, sigfd, POLLIN, NULL, R_SIGNAL);
    for (conn *c = conns; c; c = c->next) {
        short out = c->out.len ? POLLOUT : 0;
        int room = c->out.len < HIGH_WATER;
        switch (c->state) {
        case READING: n = watch(fds, slots, n, c->fd, POLLIN, c, R_CLIENT); break;
        case REPLY: n = watch(fds, slots, n, c->fd, POLLOUT, c, R_CLIENT); break;
        case LINGER: n = watch(fds, slots, n, c->fd, POLLIN, c, R_CLIENT); break;
        case EXEC:
            n = watch(fds, slots, n, c->fd, (short)(POLLIN | out), c, R_CLIENT);
            for (int i = 0; i < 2; i++)
                n = watch(fds, slots, n, c->pipe[i], room || c->gone ? POLLIN : 0, c, R_OUT0 + i);
            break;
        case PTY:
            n = watch(fds, slots, n, c->fd, (short)((c->tty.len < HIGH_WATER ? POLLIN : 0) | out), c, R_CLIENT);
            n = watch(fds, slots, n, c->master,
                      (short)((room || c->gone ? POLLIN : 0) | (c->tty.len ? POLLOUT : 0)), c, R_MASTER);
            break;
        case CONNECTING: n = watch(fds, slots, n, c->up, POLLOUT, c, R_UP); break;
        case RELAY:
            n = watch(fds, slots, n, c->fd, (short)((!c->c_eof && c->upbuf.len < HIGH_WATER ? POLLIN : 0) | out), c, R_CLIENT);
            n = watch(fds, slots, n, c->up, (short)((!c->u_eof && room ? POLLIN : 0) | (c->upbuf.len ? POLLOUT : 0)), c, R_UP);
            break;
        }
    }
    for (size_t i = 0; i < ncommands; i++)
        for (int j = 0; j < 2; j++) n = watch(fds, slots, n, commands[i]->pipe[j], POLLIN, commands[i], R_CMD0 + j);
    return n;
}

static void on_client(conn *c, short ev) {
    if (ev & POLLOUT) flush_client(c);
    if (c->fd < 0 || !(ev & (POLLIN | POLLHUP | POLLERR))) return;
    switch (c->state) {
    case READING: read_request(c); break;
    case EXEC: hang_up(c); break; /* the client sends nothing more: this is a hang-up */
    case PTY: pty_read_client(c); break;
    case RELAY:
        if (relay_read(c->fd, &c->upbuf)) c->c_eof = c->c_eof ? c->c_eof : 1;
        break;
    case REPLY:
        if (ev & (POLLHUP | POLLERR)) hang_up(c);
        break;
    case LINGER: {
        char data[CHUNK];
        ssize_t n = recv(c->fd, data, sizeof data, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) c->dead = 1;
        break;
    }
    }
}

static void on_event(slot *s, short ev, int listener, int sigfd) {
    conn *c = s->obj;
    command *k = s->obj;
    switch (s->role) {
    case R_LISTEN: accept_all(listener); break;
    case R_SIGNAL: reap(sigfd); break;
    case R_CLIENT: on_client(c, ev); break;
    case R_OUT0:
    case R_OUT1: exec_read(c, s->role - R_OUT0); break;
    case R_MASTER:
        if (ev & POLLOUT) pty_write_terminal(c);
        if (ev & (POLLIN | POLLHUP | POLLERR)) pty_read_terminal(c);
        break;
    case R_UP:
        if (c->state == CONNECTING) connect_advance(c, now_ms(), ev);
        else if (ev & (POLLIN | POLLHUP | POLLERR) && relay_read(c->up, &c->out)) c->u_eof = c->u_eof ? c->u_eof : 1;
        break;
    case R_CMD0:
    case R_CMD1: command_read(k, s->role - R_CMD0); break;
    }
}

static void advance_all(void) {
    long long now = now_ms();
    commands_settle();
    for (conn **link = &conns; *link;) {
        conn *c = *link;
        if (c->state == EXEC) exec_advance(c, now);
        if (c->state == PTY) pty_advance(c);
        if (c->state == CONNECTING) connect_advance(c, now, 0);
        if (c->state == RELAY) relay_advance(c);
        if (c->out.len) flush_client(c);
        if (c->state == REPLY && c->fd >= 0 && !c->out.len && c->refused) {
            shutdown(c->fd, SHUT_WR);
            c->state = LINGER;
            c->deadline = now + LINGER_MS;
        }
        if (c->state == REPLY && (c->fd < 0 || !c->out.len)) c->dead = 1;
        if (c->state == LINGER && (c->fd < 0 || now >= c->deadline)) c->dead = 1;
        if (c->dead) {
            *link = c->next;
            conn_free(c);
            nconns--;
        } else {
            link = &c->next;
        }
    }
}

static int next_timeout(void) {
    long long now = now_ms(), soonest = accept_paused_until > now ? accept_paused_until : -1;
    for (conn *c = conns; c; c = c->next) {
        long long at = -1;
        if (c->state == CONNECTING || c->state == LINGER) at = c->deadline;
        if (c->state == EXEC) at = c->timed_out ? (c->reaped ? c->deadline + 1000 : -1) : c->deadline;
        if (at >= 0 && (soonest < 0 || at < soonest)) soonest = at;
    }
    if (soonest < 0) return -1;
    return soonest <= now ? 0 : (int)(soonest - now < 60000 ? soonest - now : 60000);
}

static int listen_on(const char *where) {
    char *end;
    long fd = strtol(where, &end, 10);
    if (*where && *end == 0) {
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        fcntl((int)fd, F_SETFL, O_NONBLOCK);
        return (int)fd;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(where) >= sizeof addr.sun_path) return -1;
    strcpy(addr.sun_path, where);
    unlink(where);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(where, 0600) < 0 ||
        listen(s, 128) < 0)
        return -1;
    return s;
}

static void cloexec_inherited(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) == 0) return;
#endif
    for (int fd = 3; fd < 1024; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--launch") == 0) return launch_main(argc, argv);
    if (argc != 2) {
        fprintf(stderr, "usage: %s FD|PATH\n", argv[0]);
        return 2;
    }
    int null = open("/dev/null", O_RDWR); /* 0-2 must be taken before any pipe is made */
    while (null >= 0 && null <= 2) null = open("/dev/null", O_RDWR);
    if (null > 2) close(null);
    cloexec_inherited();
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* code in the sandbox (same uid) cannot read or write
                                           this process's memory through /proc/1/mem */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    int listener = listen_on(argv[1]);
    if (listener < 0 || sigfd < 0) {
        fprintf(stderr, "neo-agent: cannot listen on %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct pollfd *fds = NULL;
    slot *slots = NULL;
    size_t cap = 0;
    for (;;) {
        size_t need = 2 + nconns * 3 + ncommands * 2;
        if (need > cap) {
            cap = need * 2;
            fds = xrealloc(fds, cap * sizeof *fds);
            slots = xrealloc(slots, cap * sizeof *slots);
        }
        size_t n = build(fds, slots, listener, sigfd);
        int ready = poll(fds, n, next_timeout());
        if (ready < 0 && errno != EINTR) {
            fprintf(stderr, "neo-agent: poll: %s\n", strerror(errno));
            return 1;
        }
        for (size_t i = 0; ready > 0 && i < n; i++) {
            if (fds[i].revents) on_event(&slots[i], fds[i].revents, listener, sigfd);
        }
        advance_all();
    }
}
