/*
 * What the native agent's files share: limits, the connection and background-command records,
 * and the functions each file offers the others (agent.c: the loop, connections, exec and the
 * relay; spawn.c: starting processes; pty.c: terminals; commands.c: background commands).
 */
#ifndef NEO_AGENT_H
#define NEO_AGENT_H

#include <sys/types.h>

#include "json.h"

#define CHUNK 65536
#define KEEP (1u << 20)          /* bytes of output kept per stream of a background command */
#define MAX_COMMANDS 64          /* background commands remembered */
#define MAX_REQUEST (4u << 20)   /* longest request line */
#define HIGH_WATER (256u << 10)  /* stop reading a source while this much waits to be sent */
#define MAX_FRAME (1u << 20)     /* largest terminal frame a client may send */
#define MAX_CONNS 1024

/* LINGER: a refused request's answer was sent; what the client still sends is read and dropped
 * until it hangs up (closing with unread data would reset the connection, losing the answer). */
enum { READING, EXEC, PTY, CONNECTING, RELAY, REPLY, LINGER };
#define LINGER_MS 2000

typedef struct conn {
    struct conn *next;
    int state, fd, gone, dead;
    buf in, out;  /* from the client (request, then frames or relayed bytes); to the client */
    pid_t pid;    /* exec and pty */
    int reaped, status;
    int pipe[2];  /* exec: stdout, stderr */
    unsigned char pend[2][4];
    size_t npend[2];
    long long deadline;
    int timed_out;
    int master;   /* pty */
    buf tty;      /* input waiting for the terminal */
    int up;       /* relay: the loopback connection */
    buf upbuf;
    int c_eof, u_eof;
    int refused;  /* close through LINGER */
} conn;

typedef struct {
    int number;
    char *command;
    pid_t pid;
    int pipe[2];
    buf kept[2];
    unsigned long long dropped[2];
    double started;
    int reaped, status, exit_code, finished;
} command;

extern command *commands[MAX_COMMANDS + 1];
extern size_t ncommands;

/* spawn.c */
long long now_ms(void);
int exit_code(int status);
void kill_group(pid_t pid);
char **child_env(const request *r, const char *extra);
void child_signals(void);
pid_t spawn(const request *r, int out[2], char *why, size_t why_len);

/* agent.c */
void close_fd(int *fd);
void reply(conn *c);
void hang_up(conn *c);

/* pty.c */
void frame(buf *b, char kind, const void *payload, size_t n);
void start_pty(conn *c, request *r);
void pty_read_client(conn *c);
void pty_read_terminal(conn *c);
void pty_write_terminal(conn *c);
void pty_advance(conn *c);

/* launch.c */
int launch_main(int argc, char **argv);

/* commands.c */
void command_answer(buf *out, request *r);
void command_read(command *k, int which);
int command_exited(pid_t pid, int status);
void commands_settle(void);

#endif
