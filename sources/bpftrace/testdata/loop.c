/*
 * A syscall-heavy loop for overhead figures: MODE stat calls stat("/") N
 * times, MODE write writes one byte to /dev/null N times. It prints the
 * loop's own time in ns per call (CLOCK_MONOTONIC), so that start-up costs
 * (and a tracer's attach) are left out.
 *
 *   cc -O2 -o loop loop.c && ./loop stat 200000
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	long n = atol(argv[2]);
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0)
		return 1;
	struct stat st;
	double t0 = now();
	if (strcmp(argv[1], "stat") == 0) {
		for (long i = 0; i < n; i++)
			stat("/", &st);
	} else {
		for (long i = 0; i < n; i++)
			if (write(fd, "x", 1) != 1)
				return 1;
	}
	printf("%.1f\n", (now() - t0) / n);
	return 0;
}
