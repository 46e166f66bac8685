/*
 * Syscall counts per process and syscall, printed and cleared every
 * interval (dtrace -q -s syscalls.d INTERVAL_MS). Flowscape adds a
 * predicate to the syscall:::entry clause when it filters by pid.
 */
#pragma D option quiet
#pragma D option aggsize=8m

dtrace:::BEGIN
{
	printf("flowscape ready %d\n", timestamp);
}

syscall:::entry
{{.Filter}}
{
	@calls[pid, execname, probefunc] = count();
}

tick-{{.IntervalMS}}ms
{
	printa(@calls);
	trunc(@calls);
	printf("flowscape tick %d\n", timestamp);
}

dtrace:::END
{
	printa(@calls);
	trunc(@calls);
	printf("flowscape end %d\n", timestamp);
}
