/* Background commands: started at once, their output kept up to KEEP bytes per stream (the
 * rest counted), at most MAX_COMMANDS remembered (the oldest finished ones are forgotten). */
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

command *commands[MAX_COMMANDS + 1];
size_t ncommands;
static int command_count;

static void status_json(buf *b, const command *k) {
    buf_fmt(b, "{\"id\":\"cmd-%d\",\"command\":", k->number);
    json_cstr(b, k->command);
    buf_fmt(b, ",\"pid\":%d,\"started_at\":%.6f,\"running\":%s,\"exit_code\":", (int)k->pid,
            k->started, k->finished ? "false" : "true");
    if (k->finished) buf_fmt(b, "%d", k->exit_code);
    else buf_str(b, "null");
    for (int i = 0; i < 2; i++)
        buf_fmt(b, ",\"%s_bytes\":%llu", i ? "stderr" : "stdout",
                (unsigned long long)k->kept[i].len + k->dropped[i]);
}

static void forget_command(size_t i) {
    command *k = commands[i];
    close_fd(&k->pipe[0]);
    close_fd(&k->pipe[1]);
    buf_free(&k->kept[0]);
    buf_free(&k->kept[1]);
    free(k->command);
    free(k);
    memmove(&commands[i], &commands[i + 1], (ncommands - i - 1) * sizeof *commands);
    ncommands--;
}

static void command_start(buf *out, request *r) {
    char why[512];
    if (r->command == NULL) {
        error_line(out, "bad_request", "start needs a command");
        return;
    }
    command_count++;
    size_t finished = 0;
    for (size_t i = 0; i < ncommands; i++) finished += commands[i]->finished;
    size_t excess = ncommands + 1 > MAX_COMMANDS ? ncommands + 1 - MAX_COMMANDS : 0;
    for (size_t i = 0; i < ncommands && excess && finished;) {
        if (commands[i]->finished) {
            forget_command(i);
            excess--;
            finished--;
        } else {
            i++;
        }
    }
    if (ncommands >= MAX_COMMANDS) {
        error_line(out, "spawn_failed", "too many background commands running");
        return;
    }
    command *k = xrealloc(NULL, sizeof *k);
    memset(k, 0, sizeof *k);
    k->pid = spawn(r, k->pipe, why, sizeof why);
    if (k->pid < 0) {
        free(k);
        error_line(out, "spawn_failed", why);
        return;
    }
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    k->started = (double)t.tv_sec + (double)t.tv_nsec / 1e9;
    k->number = command_count;
    k->command = r->command;
    r->command = NULL;
    commands[ncommands++] = k;
    buf_fmt(out, "{\"id\":\"cmd-%d\",\"pid\":%d}\n", k->number, (int)k->pid);
}

void command_answer(buf *out, request *r) {
    if (!strcmp(r->op, "start")) {
        command_start(out, r);
        return;
    }
    if (!strcmp(r->op, "list")) {
        buf_str(out, "{\"commands\":[");
        for (size_t i = 0; i < ncommands; i++) {
            if (i) buf_str(out, ",");
            status_json(out, commands[i]);
            buf_str(out, "}");
        }
        buf_str(out, "]}\n");
        return;
    }
    command *k = NULL;
    for (size_t i = 0; r->id && i < ncommands && !k; i++) {
        char name[32];
        snprintf(name, sizeof name, "cmd-%d", commands[i]->number);
        if (!strcmp(name, r->id)) k = commands[i];
    }
    if (k == NULL) {
        buf_str(out, "{\"error\":\"not_found\"}\n");
        return;
    }
    if (!strcmp(r->op, "kill") && !k->reaped) kill_group(k->pid);
    status_json(out, k);
    if (!strcmp(r->op, "logs")) {
        double offsets[2] = {r->stdout_offset, r->stderr_offset};
        for (int i = 0; i < 2; i++) {
            size_t off = offsets[i] > 0 ? (offsets[i] < (double)k->kept[i].len ? (size_t)offsets[i] : k->kept[i].len) : 0;
            buf_fmt(out, ",\"%s\":\"", i ? "stderr" : "stdout");
            json_bytes(out, (unsigned char *)k->kept[i].p + off, k->kept[i].len - off, 1);
            buf_str(out, "\"");
        }
    }
    buf_str(out, "}\n");
}

void command_read(command *k, int which) {
    unsigned char data[CHUNK];
    ssize_t n = read(k->pipe[which], data, sizeof data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        close_fd(&k->pipe[which]);
        return;
    }
    buf *kept = &k->kept[which];
    size_t room = kept->len < KEEP ? KEEP - kept->len : 0;
    size_t take = (size_t)n < room ? (size_t)n : room;
    buf_add(kept, data, take);
    k->dropped[which] += (size_t)n - take;
}

/* Record a reaped child if it is a background command's; 1 when it was. */
int command_exited(pid_t pid, int status) {
    for (size_t i = 0; i < ncommands; i++) {
        if (commands[i]->pid == pid && !commands[i]->reaped) {
            commands[i]->reaped = 1;
            commands[i]->status = status;
            return 1;
        }
    }
    return 0;
}

/* A command is finished once reaped and both its pipes are closed. */
void commands_settle(void) {
    for (size_t i = 0; i < ncommands; i++) {
        command *k = commands[i];
        if (!k->finished && k->reaped && k->pipe[0] < 0 && k->pipe[1] < 0) {
            k->finished = 1;
            k->exit_code = exit_code(k->status);
        }
    }
}
