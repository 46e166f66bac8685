//go:build !(linux && amd64)

package pyagent

// nativeInject says this platform has the native injector: it has not,
// gdb injects.
const nativeInject = false

func injectNative(int, string) error { return errNoNativeInject }
