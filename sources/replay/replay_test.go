package replay_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"flowscape/sources/replay"
	"flowscape/tracer"
)

const fixtures = "../../tracer/testdata/interop"

// Every fixture opens, with progress up to the file's size.
func TestOpenEveryFormat(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*"))
	require.NoError(t, err)
	for _, path := range files {
		if filepath.Base(path) == "NOTICE" {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			st, err := os.Stat(path)
			require.NoError(t, err)
			var last, size int64
			tr := tracer.NewTrace(0)
			rep, err := replay.Open(context.Background(), path, replay.Options{Progress: func(r, s int64) { last, size = r, s }}, tr)
			if strings.Contains(path, "invalid") {
				require.Error(t, err)
				assert.Contains(t, err.Error(), path, "the message names the file")
			} else {
				require.NoError(t, err)
			}
			assert.NotEmpty(t, rep.Format)
			assert.Equal(t, st.Size(), last)
			assert.Equal(t, st.Size(), size)
			assert.NotEmpty(t, tr.Callgraph().Nodes)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.bin")
	require.NoError(t, os.WriteFile(junk, []byte("\x00\x01\x02 not a trace"), 0o644))
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.json"): "no such file",
		dir:                                "is a directory",
		junk:                               "unknown trace format",
		empty:                              "empty",
	} {
		_, err := replay.Open(context.Background(), path, replay.Options{}, tracer.NewTrace(0))
		require.Error(t, err, path)
		assert.Contains(t, err.Error(), want, path)
	}
	_, err := replay.NewSource(filepath.Join(dir, "missing.json"), replay.Options{})
	assert.ErrorContains(t, err, "no such file")
}

// A cancelled load stops, says so, and keeps what it read.
func TestOpenCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	var b strings.Builder
	b.WriteString("[")
	for i := range 200_000 {
		fmt.Fprintf(&b, `{"ph":"X","name":"f (a.py:1)","ts":%d,"dur":1,"tid":1},`+"\n", 2*i)
	}
	b.WriteString(`{"ph":"X","name":"f (a.py:1)","ts":1e9,"dur":1,"tid":1}]`)
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	tr := tracer.NewTrace(0)
	_, err := replay.Open(ctx, path, replay.Options{Progress: func(read, size int64) {
		if read > size/2 {
			cancel()
		}
	}}, tr)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "reading stopped")
	calls := tr.Callgraph().Nodes[0].Calls
	assert.Positive(t, calls)
	assert.Less(t, calls, int64(200_001))
}

// A followed file shows what another process appends, as it appends it.
func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.json")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString(`[{"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"main"}},` + "\n")
	require.NoError(t, err)

	tr := tracer.NewTrace(0)
	src, err := replay.NewSource(path, replay.Options{Follow: true})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = src.Run(ctx, tr)
	}()
	calls := func() int64 {
		var n int64
		for _, node := range tr.Callgraph().Nodes {
			n += node.Calls
		}
		return n
	}
	for i := range 3 {
		_, err := fmt.Fprintf(f, `{"ph":"B","name":"step (a.py:%d)","ts":%d,"pid":1,"tid":1},`+"\n"+`{"ph":"E","ts":%d,"pid":1,"tid":1},`+"\n", i+1, 10*i, 10*i+5)
		require.NoError(t, err)
		want := int64(i + 1)
		require.Eventually(t, func() bool { return calls() == want }, 10*time.Second, 10*time.Millisecond, "call %d appears", i+1)
	}
	assert.Equal(t, []tracer.Thread{{TID: 1, Name: "main"}}, tr.Threads())
	cancel()
	wg.Wait()
	assert.NoError(t, runErr, "stopping a followed file is not an error")
	assert.Equal(t, int64(3), calls())
}

// A gzipped trace opens as its content says; a corrupt one says where.
func TestOpenGzip(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtures, "viztracer_multithread.json"))
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err = zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	path := filepath.Join(t.TempDir(), "trace.json.gz")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))

	want := tracer.NewTrace(0)
	require.NoError(t, replay.Load(context.Background(), filepath.Join(fixtures, "viztracer_multithread.json"), want))
	got := tracer.NewTrace(0)
	var read int64
	rep, err := replay.Open(context.Background(), path, replay.Options{Progress: func(r, _ int64) { read = r }}, got)
	require.NoError(t, err)
	assert.Equal(t, tracer.Chrome, rep.Format)
	assert.Equal(t, want.Stats().Events, got.Stats().Events)
	assert.Equal(t, int64(buf.Len()), read, "progress counts the compressed bytes")

	bad := buf.Bytes()[:buf.Len()/2]
	require.NoError(t, os.WriteFile(path, bad, 0o644))
	_, err = replay.Open(context.Background(), path, replay.Options{}, tracer.NewTrace(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gzip: unexpected EOF")

	_, err = replay.Open(context.Background(), path, replay.Options{Follow: true}, tracer.NewTrace(0))
	assert.ErrorContains(t, err, "cannot be followed")
}
