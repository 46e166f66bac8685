/*
 * A deterministic syscall workload: the process forks CHILDREN children;
 * the parent and each child start a thread, and every thread (main and
 * started) calls getppid() N1 times and sched_yield() N2 times, then the
 * process waits for what it started. Nothing in the C library's start-up
 * or exit calls either syscall, so the counts are exactly
 * (CHILDREN + 1) * 2 * N1 getppid and (CHILDREN + 1) * 2 * N2 sched_yield.
 *
 *   cc -O2 -pthread -o workload workload.c && ./workload N1 N2 CHILDREN
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long n1, n2;

static void *work(void *arg)
{
	(void)arg;
	for (long i = 0; i < n1; i++)
		syscall(SYS_getppid);
	for (long i = 0; i < n2; i++)
		syscall(SYS_sched_yield);
	return NULL;
}

static int run(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, work, NULL) != 0)
		return 1;
	work(NULL);
	return pthread_join(t, NULL) != 0;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	n1 = atol(argv[1]);
	n2 = atol(argv[2]);
	int children = atoi(argv[3]);
	for (int c = 0; c < children; c++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			_exit(run());
	}
	int bad = run();
	int status;
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad = 1;
	return bad;
}
